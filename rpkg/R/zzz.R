.onLoad <- function(libname, pkgname) {
  ns <- environment(sys.function())
  .model_env <- make_model_env()
  assign(".model_env", .model_env, envir = ns)
  .Call(C_init, ns, .model_env)
  invisible()
}

# An error of ours, with no call, as cli_abort(call = NULL) shows it.
securer_abort <- function(msg, class = NULL) {
  stop(structure(class = c(class, "securer_error", "error", "condition"),
                 list(message = msg, call = NULL)))
}

# cli's {.cls}: <numeric>, <character>, ...
cls <- function(x) paste0("<", class(x)[1], ">")

# cli's {.val}: strings quoted, others deparsed.
val <- function(x) {
  if (is.character(x)) paste0("\"", x, "\"", collapse = ", ")
  else paste(format(x), collapse = ", ")
}

# Used by the codec (rvalue/encode.c) for values that cannot cross.
.printed <- function(x)
  tryCatch(paste(utils::capture.output(print(x)), collapse = "\n"),
           error = function(e) "")

vmsg <- function(verbose, ...) if (isTRUE(verbose)) message("[securer] ", ...)

# The value as the daemon would send it back (for the tests).
decode_roundtrip <- function(x, binary = FALSE) {
  v <- .Call(C_decode, .Call(C_encode, x, binary))
  .revive(v)
}

# The same through a frame: list(json, frame) and back.
frame_roundtrip <- function(x) {
  e <- .Call(C_encode_frame, x)
  .revive(.Call(C_decode_frame, e[[1]], e[[2]]))
}
