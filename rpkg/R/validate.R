dangerous_patterns <- c("system", "system2", "shell", ".Internal", "Sys.setenv",
  ".Call", ".C", ".Fortran", ".External", "dyn.load", "pipe", "processx::run",
  "callr::r", "socketConnection", "url", "do.call")

#' Checks that code parses and flags calls the sandbox may restrict.
validate_code <- function(code) {
  if (!is.character(code) || length(code) != 1)
    stop("`code` must be a single character string")
  exprs <- tryCatch(parse(text = code, keep.source = TRUE),
                    error = function(e) e)
  if (inherits(exprs, "error"))
    return(list(valid = FALSE, error = conditionMessage(exprs),
                warnings = character(0)))
  pd <- utils::getParseData(exprs, includeText = TRUE)
  calls <- character(0)
  if (!is.null(pd) && nrow(pd) > 0) {
    pd <- pd[pd$terminal, , drop = FALSE]
    pd <- pd[order(pd$line1, pd$col1), , drop = FALSE]
    for (i in which(pd$token == "SYMBOL_FUNCTION_CALL")) {
      fn <- pd$text[i]
      if (i > 2 && pd$token[i - 1] %in% c("NS_GET", "NS_GET_INT") &&
          pd$token[i - 2] == "SYMBOL_PACKAGE")
        calls <- c(calls, paste0(pd$text[i - 2], "::", fn))
      calls <- c(calls, fn)
    }
  }
  hits <- dangerous_patterns[dangerous_patterns %in% calls]
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
