dangerous_patterns <- c("system", "system2", "shell", ".Internal", "Sys.setenv",
  ".Call", ".C", ".Fortran", ".External", "dyn.load", "pipe", "processx::run",
  "callr::r", "socketConnection", "url", "do.call", "download.file", "file",
  "gzfile", "bzfile", "xzfile", "unz", "fifo", "make.socket", "socketAccept",
  ".External2", ".Primitive", "library.dynam")

#' Checks that code parses and flags calls the sandbox may restrict.
validate_code <- function(code) {
  if (!is.character(code) || length(code) != 1)
    securer_abort("`code` must be a single character string", "securer_invalid_argument")
  if (is.na(code))
    securer_abort("`code` must be a single character string, not NA",
                  "securer_invalid_argument")
  exprs <- tryCatch(parse(text = code, keep.source = FALSE),
                    error = function(e) e)
  if (inherits(exprs, "error"))
    return(list(valid = FALSE, error = conditionMessage(exprs),
                warnings = character(0)))
  hits <- dangerous_patterns[.Call(C_risky, exprs, dangerous_patterns)]
  list(valid = TRUE, error = NULL,
       warnings = if (length(hits)) sprintf(
         "Code contains call to `%s()` which may be restricted by the sandbox",
         hits) else character(0))
}

#' Resource limits of a sandboxed session.
default_limits <- function() {
  list(cpu = 60, memory = 512 * 1024^2, fsize = 50 * 1024^2, nproc = 50,
       nofile = 256)
}

limit_names <- c("cpu", "memory", "fsize", "nproc", "nofile", "stack")

validate_limits <- function(limits) {
  if (length(limits) == 0) return(invisible(limits))
  bad <- setdiff(names(limits), limit_names)
  if (is.null(names(limits)) || length(bad))
    securer_abort(sprintf("Unknown limit name(s): %s. Valid names: %s",
                          paste(bad, collapse = ", "),
                          paste(limit_names, collapse = ", ")))
  for (nm in names(limits)) {
    v <- limits[[nm]]
    if (!is.numeric(v) || length(v) != 1 || is.na(v) || v <= 0)
      securer_abort(sprintf("Limit '%s' must be a single positive number, got: %s",
                            nm, paste(deparse(v), collapse = "")))
  }
  invisible(limits)
}

# limits for session.create: NULL the daemon's defaults, list() none.
limits_json <- function(limits) {
  if (is.null(limits)) return(NULL)
  if (length(limits) == 0)
    limits <- stats::setNames(rep(list(NULL), length(limit_names)), limit_names)
  as.character(jsonlite::toJSON(limits, auto_unbox = TRUE, null = "null",
                                digits = NA))
}

sanitize_error_message <- function(msg, max_length = 500L) {
  if (!is.character(msg) || length(msg) == 0) return("Unknown error")
  msg <- msg[1]
  msg <- sub("(?s)(Traceback|Call stack|Stack trace):?\\s*\\n.*", "", msg,
             perl = TRUE)
  msg <- gsub("(/Users|/home|/tmp|/var|/etc|/opt|/usr|/srv|/root|~)/[^ '\",:)}\n]+",
              "[path]", msg)
  msg <- gsub("[A-Z]:\\\\[^ '\",:)}\n]+", "[path]", msg)
  msg <- gsub("process\\s*'\\d+'", "process '[pid]'", msg, ignore.case = TRUE)
  msg <- gsub("process\\s+(\\d+)", "process [pid]", msg, ignore.case = TRUE)
  msg <- gsub("PID\\s*[:=]?\\s*\\d+", "PID [pid]", msg, ignore.case = TRUE)
  msg <- gsub("\\d{1,3}(\\.\\d{1,3}){3}(:\\d+)?", "[host]", msg)
  msg <- gsub("[a-zA-Z][a-zA-Z0-9+.-]*://[^ '\"\n]+", "[url]", msg)
  msg <- gsub(paste0("((?:connect|resolve|host|server|connection)\\s+(?:to\\s+)?['\"]?)",
                     "([a-zA-Z0-9][-a-zA-Z0-9.]*\\.[a-zA-Z]{2,})(:\\d+)?"),
              "\\1[host]", msg, perl = TRUE, ignore.case = TRUE)
  if (nchar(msg) > max_length)
    msg <- paste0(substr(msg, 1, max_length - 3), "...")
  msg
}
