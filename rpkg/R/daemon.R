# Where the daemon is: the option securer.socket, else SECURER_SOCKET, else
# libsecurer's choice (the system daemon, else the user's private one).
configured_socket <- function() {
  s <- getOption("securer.socket", Sys.getenv("SECURER_SOCKET"))
  if (is.null(s) || !nzchar(s)) NULL else s
}

# securerd for a private daemon: $SECURERD, the installed one, else the
# one of the source tree the package was built from.
find_securerd <- function() {
  if (nzchar(Sys.getenv("SECURERD"))) return(invisible())
  if (file.exists("/usr/local/sbin/securerd")) return(invisible())
  built <- file.path(.Call(C_build_dir), "securerd")
  if (file.exists(built)) Sys.setenv(SECURERD = built)
  invisible()
}

# A new session on a connection of its own: the external pointer, or an
# error raised.
open_session <- function(tools, limits, max_executions, sandbox_strict) {
  args <- list(tools_json(tools), limits_json(limits), 0,
               if (is.null(max_executions)) NULL else as.numeric(max_executions),
               isTRUE(sandbox_strict))
  find_securerd()
  path <- configured_socket()
  p <- do.call(function(...) .Call(C_session_new, path, ...), args)
  if (is.list(p) && identical(p$code, "ECONNECT") && !is.null(path) &&
      isTRUE(getOption("securer.autostart", TRUE))) {
    # Nothing answers where configured: a private daemon, as securer(1).
    path <- .Call(C_private_socket)
    err <- .Call(C_start_daemon, path)
    if (!is.null(err)) securer_abort(paste("Cannot start securerd:", err))
    p <- do.call(function(...) .Call(C_session_new, path, ...), args)
  }
  if (is.list(p)) {
    if (identical(p$code, "sandbox_unavailable"))
      securer_abort(paste0("sandbox_strict is TRUE but the daemon cannot give ",
        "this session its full sandbox (", p$message, "). Set sandbox_strict ",
        "= FALSE to accept the isolation it has."))
    if (identical(p$code, "bad_limits"))
      securer_abort(paste0("Invalid limits: ", p$message))
    securer_abort(paste0("Failed to start a session: ", p$message,
                         if (nzchar(p$code)) paste0(" (", p$code, ")")))
  }
  p
}
