# The client side audit log: JSONL, one open/append per event, the file
# created 0600 and never followed if a symlink.
new_audit_logger <- function(path, session_id, max_code_length = 10000L) {
  if (is.null(path)) return(NULL)
  if (!is.character(path) || length(path) != 1 || is.na(path) || !nzchar(path))
    securer_abort("audit_log path must be a non-empty character string")
  dir <- dirname(path)
  if (!dir.exists(dir)) dir.create(dir, recursive = TRUE)
  dir <- normalizePath(dir, mustWork = TRUE)
  if (startsWith(dir, "/dev") || startsWith(dir, "/proc"))
    securer_abort("audit_log path must not point to a device file")
  # Sys.readlink() is NA for a file that does not exist yet.
  link <- Sys.readlink(path)
  if (!is.na(link) && nzchar(link))
    securer_abort("audit_log path must not be a symlink")
  path <- file.path(dir, basename(path))
  function(event, ...) {
    fields <- list(...)
    if (!is.null(fields$code) && nchar(fields$code) > max_code_length)
      fields$code <- paste0(substr(fields$code, 1, max_code_length),
                            "... [truncated]")
    entry <- c(list(timestamp = format(Sys.time(), "%Y-%m-%dT%H:%M:%OS3Z",
                                       tz = "UTC"),
                    event = event, session_id = session_id), fields)
    line <- paste0(jsonlite::toJSON(entry, auto_unbox = TRUE, null = "null",
                                    digits = NA, force = TRUE), "\n")
    err <- .Call(C_audit_write, path, line)
    if (!is.null(err)) warning("securer: cannot write the audit log ", path,
                               ": ", err, call. = FALSE)
    invisible()
  }
}
