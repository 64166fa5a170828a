#' A session: one sandboxed R worker of securerd, its state kept across
#' executions.
SecureSession <- R6::R6Class("SecureSession",
  cloneable = FALSE,
  public = list(
    initialize = function(tools = list(), sandbox = FALSE, limits = NULL,
                          verbose = FALSE, sandbox_strict = FALSE,
                          audit_log = NULL, max_executions = NULL,
                          pre_execute_hook = NULL, sanitize_errors = FALSE) {
      if (!is.null(fork_handover$ptr)) return(private$adopt())
      private$tool_list <- validate_tools(tools)
      if (!is.null(max_executions)) {
        if (!is.numeric(max_executions) || length(max_executions) != 1 ||
            is.na(max_executions) || max_executions < 1)
          securer_abort(sprintf(
            "`max_executions` must be a single positive number, not %s.",
            val(max_executions)))
        max_executions <- as.integer(max_executions)
      }
      if (!is.null(pre_execute_hook) && !is.function(pre_execute_hook))
        securer_abort(sprintf("`pre_execute_hook` must be a function, not %s.",
                              cls(pre_execute_hook)))
      if (!is.null(limits)) validate_limits(limits)
      if (isTRUE(sandbox) && is.null(limits)) limits <- default_limits()
      private$sandbox <- isTRUE(sandbox)
      private$strict <- isTRUE(sandbox) && isTRUE(sandbox_strict)
      private$limits <- limits
      private$verbose <- isTRUE(verbose)
      private$max_executions <- max_executions
      private$hook <- pre_execute_hook
      private$sanitize <- isTRUE(sanitize_errors)
      private$session_id <- basename(tempfile("sess_"))
      private$audit_path <- audit_log
      private$audit <- new_audit_logger(audit_log, private$session_id)
      private$start()
      invisible(self)
    },

    execute = function(code, timeout = 30, validate = TRUE,
                       output_handler = NULL, max_tool_calls = NULL,
                       max_code_length = 100000L, max_output_lines = NULL) {
      ctx <- private$preflight(code, timeout, validate, output_handler,
                               max_tool_calls, max_code_length,
                               max_output_lines)
      on.exit(private$executing <- FALSE)
      r <- .Call(C_execute, private$ptr, code, timeout, max_tool_calls, NULL,
                 ctx$on_output, ctx$on_tool)
      private$finish(ctx, r)
    },

    #' Starts an execution and returns at once: a securer_future whose
    #' $value() waits for it.  Tool calls and output handlers run while
    #' the future is polled ($resolved(), $value()).
    execute_async = function(code, timeout = 30, validate = TRUE,
                             output_handler = NULL, max_tool_calls = NULL,
                             max_code_length = 100000L,
                             max_output_lines = NULL) {
      ctx <- private$preflight(code, timeout, validate, output_handler,
                               max_tool_calls, max_code_length,
                               max_output_lines)
      r <- .Call(C_execute_start, private$ptr, code, timeout, max_tool_calls,
                 NULL, ctx$on_output, ctx$on_tool)
      if (!is.null(r)) {
        private$executing <- FALSE
        return(private$finish(ctx, r))
      }
      ptr <- private$ptr
      securer_future$new(
        poll = function(ms) .Call(C_execute_poll, ptr, as.integer(ms)),
        finish = function(r) {
          private$executing <- FALSE
          private$finish(ctx, r)
        }, handle = ptr)
    },

    close = function() {
      if (!is.null(private$ptr)) {
        if (!is.null(private$audit)) private$audit("session_close")
        vmsg(private$verbose, "Session closed")
        .Call(C_session_close, private$ptr)
        private$ptr <- NULL
      }
      invisible(self)
    },

    is_alive = function() {
      if (is.null(private$ptr)) return(FALSE)
      if (private$executing) return(TRUE)
      st <- tryCatch(.Call(C_session_state, private$ptr), error = function(e) NULL)
      is.character(st) && !identical(st, "dead")
    },

    restart = function() {
      if (private$executing)
        securer_abort("Cannot restart while an execution is in progress.")
      vmsg(private$verbose, "Restarting session")
      if (!is.null(private$audit)) private$audit("session_restart")
      private$resumed_last <- NULL
      r <- if (is.null(private$ptr)) list(code = "closed") else
        .Call(C_session_restart, private$ptr)
      if (!is.null(r)) {
        # The connection is gone (or the session closed): a new one.
        if (!is.null(private$ptr)) .Call(C_session_close, private$ptr)
        private$ptr <- NULL
        private$start()
      }
      invisible(self)
    },

    #' Saves the session's state (its global environment, attached and
    #' loaded packages, working directory and the files of its HOME) and
    #' frees its worker; the next execution or file call restores it
    #' first.  Returns the snapshot's size in bytes, invisibly.
    hibernate = function() {
      if (private$executing)
        securer_abort("Cannot hibernate while an execution is in progress.",
                      "securer_session_busy")
      if (is.null(private$ptr)) securer_abort("Session is not running.")
      vmsg(private$verbose, "Hibernating session")
      private$resumed_last <- NULL
      r <- .Call(C_session_hibernate, private$ptr)
      if (is.list(r)) private$refused("session_hibernate", r)
      vmsg(private$verbose, sprintf("Session hibernated (%.0f bytes)", r))
      if (!is.null(private$audit)) private$audit("session_hibernate", bytes = r)
      invisible(r)
    },

    #' A new session whose state is a copy of this one's, taken now (this
    #' one idle or hibernated, and going on at once): a SecureSession with
    #' the same tools, options and verbose and audit settings, on this
    #' one's connection to the daemon.  It starts hibernated: its first
    #' execution or file call restores the copy in a worker of its own
    #' ($last_resumed() says so), and from then on the two change
    #' independently.  Either may be closed first; the connection closes
    #' with the last.
    fork = function() {
      if (private$executing)
        securer_abort("Cannot fork while an execution is in progress.",
                      "securer_session_busy")
      if (is.null(private$ptr)) securer_abort("Session is not running.")
      vmsg(private$verbose, "Forking session")
      private$resumed_last <- NULL
      r <- .Call(C_session_fork, private$ptr)
      if (is.null(r$ptr)) private$refused("session_fork", r)
      id <- basename(tempfile("sess_"))
      fork_handover$from <- private
      fork_handover$ptr <- r$ptr
      fork_handover$session_id <- id
      on.exit(rm(list = ls(fork_handover), envir = fork_handover))
      f <- SecureSession$new()
      daemon_session <- R_extptr_prot(r$ptr)[1]
      vmsg(private$verbose, sprintf("Session forked (%.0f bytes, session=%s)",
                                    r$bytes, daemon_session))
      if (!is.null(private$audit))
        private$audit("session_fork", bytes = r$bytes, fork_id = id,
                      daemon_session = daemon_session)
      f
    },

    #' What the last execution or file call said of a resume: NULL, or
    #' list(ms, bytes, warning) when it woke the hibernated session.
    last_resumed = function() private$resumed_last,

    # As securer 0.2.0: name -> list(name, args) for securer_tool
    # objects, an unnamed list with args = NULL for legacy tools.
    tools = function() {
      if (length(private$tool_list) == 0) return(list())
      r <- lapply(private$tool_list, function(t)
        list(name = t$name, args = if (t$legacy) NULL else names(t$args) %||% character(0)))
      if (private$tool_list[[1]]$legacy) unname(r) else r
    },

    #' The advisories of the last execution: risky calls its code
    #' mentions, found by the worker's parse (validate = TRUE).
    last_advisories = function() private$advisories_last,

    #' The output of the last execution (also when its value was NULL).
    last_output = function() private$output_last,

    #' The plots the last execution drew (also when it failed or its
    #' value was NULL): a securer_plots list, or NULL.
    last_plots = function() private$plots_last,

    #' Puts a file in the session's input directory,
    #' Sys.getenv("SECURER_INPUT") to the code, read-only.  `path` is a
    #' local file, or `data` a raw vector or character string to put.
    #' The bytes go in chunks of 1 MiB, read from `path` as they go.
    put_file = function(path = NULL, name = basename(path), data = NULL) {
      if (is.null(data)) {
        if (!is.character(path) || length(path) != 1L || !file.exists(path))
          securer_abort("`path` must be the name of an existing file.")
      } else if (is.character(data)) {
        data <- charToRaw(enc2utf8(paste(data, collapse = "\n")))
      }
      if (!is.null(data) && !is.raw(data))
        securer_abort("`data` must be a raw vector or a character string.")
      if (!is.character(name) || length(name) != 1L || is.na(name))
        securer_abort("`name` must be a single string.")
      if (is.null(private$ptr)) securer_abort("Session is not running.")
      private$resumed_last <- NULL
      if (is.null(data)) {
        con <- file(path, "rb")
        on.exit(close(con))
        private$put_chunks(name, function() readBin(con, "raw", file_chunk))
      } else {
        private$put_slices(name, data)
      }
      invisible(self)
    },

    #' Gets a file the code wrote to its output directory,
    #' Sys.getenv("SECURER_OUTPUT"): its bytes, or written to `path`
    #' (whose name is returned).  The bytes come in chunks of 1 MiB,
    #' written to `path` as they come.
    get_file = function(name, path = NULL) {
      if (!is.character(name) || length(name) != 1L || is.na(name))
        securer_abort("`name` must be a single string.")
      if (!is.null(path) && (!is.character(path) || length(path) != 1L ||
                             is.na(path)))
        securer_abort("`path` must be a single string.")
      if (is.null(private$ptr)) securer_abort("Session is not running.")
      private$resumed_last <- NULL
      if (is.null(path)) return(private$get_chunks(name, NULL))
      # A failed get leaves no half file at path.
      tmp <- tempfile(".securer-get-", tmpdir = dirname(path))
      con <- file(tmp, "wb")
      on.exit(if (!is.null(con)) {
        close(con)
        unlink(tmp)
      })
      private$get_chunks(name, con)
      close(con)
      con <- NULL
      if (!file.rename(tmp, path)) {
        unlink(tmp)
        securer_abort(sprintf("Cannot write %s.", val(path)), "securer_file_error")
      }
      invisible(path)
    },

    format = function(...) {
      sprintf("<SecureSession> [%s] pid=NA sandbox=%s tools=%d",
              if (self$is_alive()) "running" else "stopped",
              private$sandbox_level(), length(private$tool_list))
    },

    print = function(...) {
      message("<<SecureSession>>")
      message("* Status: ", if (self$is_alive()) "running" else "stopped")
      message("* Tool count: ", length(private$tool_list))
      message("* Sandbox: ", private$sandbox_level())
      invisible(self)
    }
  ),

  private = list(
    ptr = NULL, tool_list = list(), sandbox = FALSE, strict = FALSE,
    limits = NULL, verbose = FALSE, max_executions = NULL, hook = NULL,
    sanitize = FALSE, session_id = NULL, audit_path = NULL, audit = NULL,
    executing = FALSE, execution_count = 0L, output_last = NULL,
    plots_last = NULL, validate = TRUE, advisories_last = character(0),
    resumed_last = NULL,

    # The isolation the daemon gives the session (full, partial), as it
    # said when the session was made: the worker is always sandboxed.
    sandbox_level = function() {
      if (is.null(private$ptr)) return("unknown (closed)")
      info <- tryCatch(R_extptr_prot(private$ptr), error = function(e) NULL)
      if (is.character(info) && length(info) >= 2L && nzchar(info[2])) info[2]
      else "unknown"
    },

    # The last call woke the hibernated session (its reply said
    # "resumed"): kept for $last_resumed(), and what could not be
    # restored is a warning of class securer_resume_warning.
    note_resumed = function() {
      r <- if (is.null(private$ptr)) NULL else
        tryCatch(.Call(C_session_resumed, private$ptr), error = function(e) NULL)
      if (is.null(r)) return(invisible(NULL))
      private$resumed_last <- r
      vmsg(private$verbose, sprintf("Session resumed (%.0f bytes, %.0f ms)",
                                    r$bytes, r$ms))
      if (!is.null(private$audit))
        private$audit("session_resume", bytes = r$bytes, ms = r$ms,
                      warning = r$warning)
      if (!is.null(r$warning))
        warning(structure(class = c("securer_resume_warning", "warning", "condition"),
                          list(message = paste("The session was resumed from",
                                               "hibernation, but not all of it:",
                                               r$warning),
                               call = NULL)))
      invisible(r)
    },

    file_op = function(r) {
      if (is.list(r) && !is.null(r$error)) {
        e <- r$error
        securer_abort(e$message, paste0("securer_", e$code))
      }
      r
    },

    # A file call, tried again after a short pause while the daemon
    # holds too much file data for all its sessions (memory_busy).
    file_call = function(call) {
      for (i in seq_len(file_busy_tries)) {
        r <- call()
        private$note_resumed()
        busy <- is.list(r) && is.list(r$error) &&
          identical(r$error$code, "memory_busy")
        if (!busy || i == file_busy_tries) break
        Sys.sleep(file_busy_pause * 2^(i - 1L))
      }
      private$file_op(r)
    },

    # Uploads what read() gives, chunk after chunk until an empty or
    # short one: each chunk says whether more follow, so one more is
    # read ahead.
    put_chunks = function(name, read) {
      offset <- 0
      chunk <- read()
      repeat {
        after <- if (length(chunk) == file_chunk) read() else raw(0)
        more <- length(after) > 0L
        private$file_call(function()
          .Call(C_file_put_chunk, private$ptr, name, chunk, 0, length(chunk),
                offset, more))
        offset <- offset + length(chunk)
        if (!more) break
        chunk <- after
        collect_chunks(offset)
      }
    },

    # Uploads the raw vector data a chunk at a time, each a slice of it
    # (no copy in R).
    put_slices = function(name, data) {
      offset <- 0
      total <- length(data)
      repeat {
        n <- min(file_chunk, total - offset)
        more <- offset + n < total
        private$file_call(function()
          .Call(C_file_put_chunk, private$ptr, name, data, offset, n, offset,
                more))
        offset <- offset + n
        if (!more) break
      }
    },

    # Downloads name in ranges of a chunk: the first reply says the
    # file's size.  The bytes go to the connection con, or are returned.
    get_chunks = function(name, con) {
      offset <- 0
      size <- NULL
      out <- NULL
      repeat {
        want <- if (is.null(size)) file_chunk else min(file_chunk, size - offset)
        r <- private$file_call(function()
          .Call(C_file_get_range, private$ptr, name, offset, want))
        n <- length(r$data)
        if (is.null(size)) {
          size <- r$size
          if (is.null(con) && n < size) out <- raw(size)
        }
        if (!identical(r$size, size) || (n == 0L && offset < size) ||
            offset + n > size)
          securer_abort(sprintf(paste("securerd's reply to file.get is not",
                                      "the range asked of %s."), val(name)),
                        "securer_protocol")
        if (!is.null(con)) writeBin(r$data, con)
        else if (is.null(out)) out <- r$data
        else if (n > 0L) out[offset + seq_len(n)] <- r$data
        offset <- offset + n
        if (offset >= size) break
        if (!is.null(con)) collect_chunks(offset)
      }
      if (is.null(con)) out else invisible(NULL)
    },

    # What the daemon refused to $hibernate() or $fork(), list(code,
    # message): logged and raised with its class.  Once the connection is
    # gone, the session is too.
    refused = function(event, r) {
      if (!is.null(private$audit)) private$audit(event, error = r$message)
      if (r$code %in% c("EIO", "ETRUNCATED", "ESLOWCLIENT", "EOVERBUDGET")) {
        .Call(C_session_close, private$ptr)
        private$ptr <- NULL
      }
      securer_abort(r$message, switch(r$code,
        ESLOWCLIENT = "securer_slow_client",
        EOVERBUDGET = "securer_over_budget",
        paste0("securer_", r$code)))
    },

    # The object $fork() makes (fork_handover): its source's tools and
    # settings, and the daemon's new session on the source's connection
    # instead of a session of its own.
    adopt = function() {
      from <- fork_handover$from
      for (n in c("tool_list", "sandbox", "strict", "limits", "verbose",
                  "max_executions", "hook", "sanitize", "audit_path"))
        private[[n]] <- from[[n]]
      private$ptr <- fork_handover$ptr
      private$session_id <- fork_handover$session_id
      private$audit <- new_audit_logger(private$audit_path, private$session_id)
      info <- R_extptr_prot(private$ptr)
      if (!is.null(private$audit))
        private$audit("session_start", sandbox = private$sandbox,
                      daemon_session = info[1], isolation = info[2],
                      forked_from = from$session_id)
      invisible(self)
    },

    start = function() {
      private$ptr <- open_session(private$tool_list, private$limits,
                                  NULL, private$strict)
      info <- R_extptr_prot(private$ptr)
      vmsg(private$verbose, sprintf("Session started (sandbox=%s, session=%s)",
                                    tolower(private$sandbox), info[1]))
      if (!is.null(private$audit))
        private$audit("session_start", sandbox = private$sandbox,
                      daemon_session = info[1], isolation = info[2])
    },

    preflight = function(code, timeout, validate, output_handler,
                         max_tool_calls, max_code_length, max_output_lines) {
      if (is.null(private$ptr)) securer_abort("Session is not running.")
      if (private$executing)
        securer_abort(paste("<SecureSession> does not support concurrent",
          "`execute()` calls; wait for the current execution to complete."))
      # A fork shares its source's connection, which takes one execution
      # at a time: securer_session_busy while the other's runs.
      .Call(C_session_ready, private$ptr)
      if (!is.null(private$max_executions) &&
          private$execution_count >= private$max_executions)
        securer_abort(sprintf("Maximum executions (%d) reached for this session.",
                              private$max_executions))
      if (!is.null(private$hook)) {
        ok <- tryCatch(private$hook(code), error = function(e)
          securer_abort(paste0("`pre_execute_hook` error: ", conditionMessage(e))))
        if (identical(ok, FALSE))
          securer_abort("Execution blocked by `pre_execute_hook`.")
      }
      if (!is.character(code) || length(code) != 1 || is.na(code))
        securer_abort("`code` must be a single character string.")
      if (!is.null(max_code_length) && nchar(code) > max_code_length)
        securer_abort(sprintf("Code too long (%s chars, max %s).",
                              val(nchar(code)), val(as.integer(max_code_length))))
      if (!is.null(output_handler) && !is.function(output_handler))
        securer_abort(sprintf("`output_handler` must be a function or NULL, not %s.",
                              cls(output_handler)))
      # validate: the worker's own parse is the check (a syntax error is
      # securer_syntax_error, and nothing runs), and its advisories come
      # with the result ($last_advisories()): no second parse here.
      private$validate <- isTRUE(validate)
      private$resumed_last <- NULL
      private$executing <- TRUE
      private$execution_count <- private$execution_count + 1L
      if (!is.null(private$audit)) private$audit("execute_start", code = code)
      private$context(timeout, output_handler, max_tool_calls, max_output_lines)
    },

    # The callbacks of one execution and what they gather.  Output comes
    # in chunks of many lines; they are kept in a list that doubles when
    # full, so that a million lines cost a million times one line.
    context = function(timeout, output_handler, max_tool_calls,
                       max_output_lines) {
      ctx <- new.env(parent = emptyenv())
      ctx$chunks <- vector("list", 64L)
      ctx$nchunks <- 0L
      ctx$nlines <- 0
      ctx$partial <- ""
      ctx$timeout <- timeout
      ctx$max_tool_calls <- max_tool_calls
      ctx$start <- Sys.time()
      keep <- function(l) {
        if (!length(l)) return()
        if (!is.null(output_handler))
          for (x in l) tryCatch(output_handler(x), error = function(e) NULL)
        if (!is.null(max_output_lines)) {
          room <- max(0, max_output_lines - ctx$nlines)
          if (length(l) > room) l <- l[seq_len(room)]
          if (!length(l)) return()
        }
        if (ctx$nchunks == length(ctx$chunks))
          length(ctx$chunks) <- 2L * length(ctx$chunks)
        ctx$nchunks <- ctx$nchunks + 1L
        ctx$chunks[[ctx$nchunks]] <- l
        ctx$nlines <- ctx$nlines + length(l)
      }
      ctx$lines <- function() {
        if (ctx$nchunks == 0L) return(character(0))
        unlist(ctx$chunks[seq_len(ctx$nchunks)], use.names = FALSE)
      }
      ctx$flush <- function() {
        if (nzchar(ctx$partial)) keep(ctx$partial)
        ctx$partial <- ""
      }
      ctx$on_output <- function(stream, text) {
        if (!nzchar(text)) return()
        if (identical(stream, "warning")) {
          # A warning as R prints one at the top level.
          ctx$flush()
          keep(strsplit(paste0("Warning message:\n", text), "\n",
                        fixed = TRUE)[[1]])
          return()
        }
        parts <- strsplit(paste0(ctx$partial, text), "\n", fixed = TRUE)[[1]]
        if (endsWith(text, "\n")) ctx$partial <- ""
        else {
          ctx$partial <- parts[length(parts)]
          parts <- parts[-length(parts)]
        }
        keep(parts)
      }
      ctx$on_tool <- if (length(private$tool_list)) function(name, args)
        private$call_tool(name, args)
      ctx
    },

    call_tool = function(name, args) {
      t <- private$tool_list[[name]]
      # Formatting and timing are for the log and the audit: a quiet
      # session without an audit function pays only for the call.
      verbose <- isTRUE(private$verbose)
      audit <- private$audit
      if (!verbose && is.null(audit)) {
        r <- tryCatch(list(value = do.call(t$fn, args)),
                      error = function(e) list(error = conditionMessage(e)))
        if (!is.null(r$error))
          return(list(error = sanitize_error_message(r$error)))
        return(r["value"])
      }
      if (verbose) {
        shown <- vapply(args, function(a) paste(format(a), collapse = ","), "")
        vmsg(TRUE, sprintf("Tool call: %s(%s)", name,
                           paste(names(args), shown, sep = "=", collapse = ", ")))
      }
      if (!is.null(audit))
        audit("tool_call", tool = name, args = args)
      t0 <- Sys.time()
      r <- tryCatch(list(value = do.call(t$fn, args)),
                    error = function(e) list(error = conditionMessage(e)))
      el <- as.numeric(Sys.time()) - as.numeric(t0)
      if (!is.null(r$error)) {
        vmsg(verbose, sprintf("Tool result: %s -> error: %s (%.2fs)",
                              name, r$error, el))
        if (!is.null(audit))
          audit("tool_result", tool = name, error = r$error,
                result_summary = NULL, elapsed_secs = el)
        return(list(error = sanitize_error_message(r$error)))
      }
      if (verbose) {
        first <- tryCatch(paste(format(r$value)[1]), error = function(e) "?")
        vmsg(TRUE, sprintf("Tool result: %s -> %s (%.2fs)", name, first, el))
      }
      if (!is.null(audit))
        audit("tool_result", tool = name, error = NULL,
              result_summary = substr(paste(deparse(r$value)[1]), 1, 500),
              elapsed_secs = el)
      r["value"]
    },

    finish = function(ctx, r) {
      private$note_resumed()
      ctx$flush()
      lines <- ctx$lines()
      private$output_last <- lines
      private$plots_last <- as_securer_plots(r$plots)
      el <- as.numeric(Sys.time()) - as.numeric(ctx$start)
      private$advisories_last <- character(0)
      if (!is.null(r$error)) return(private$fail(ctx, r$error, el))
      if (!is.null(r$decode_error))
        securer_abort(paste("The value of the execution cannot be decoded:",
                            r$decode_error), "securer_decode_error")
      vmsg(private$verbose, sprintf("Execution complete (%.2fs)", el))
      if (!is.null(private$audit))
        private$audit("execute_complete", elapsed = sprintf("%.2fs", el))
      value <- r$value
      if (isTRUE(r$revive)) value <- .revive(value)
      if (length(lines) && !is.null(value))
        attr(value, "output") <- lines
      if (!is.null(private$plots_last) && !is.null(value))
        attr(value, "plots") <- private$plots_last
      if (isTRUE(r$plots_omitted > 0L))
        warning(sprintf("%d plot(s) over the daemon's caps not returned",
                        r$plots_omitted), call. = FALSE)
      private$advisories_last <- if (private$validate) result_warnings(r$warnings)
                                 else character(0)
      value
    },

    fail = function(ctx, e, el) {
      code <- e$code
      # Code that did not parse never ran: it is no execution.
      if (identical(code, "parse_error") && private$validate)
        private$execution_count <- private$execution_count - 1L
      if (identical(code, "timeout")) {
        vmsg(private$verbose, sprintf("Execution timed out after %ss", paste(ctx$timeout)))
        if (!is.null(private$audit))
          private$audit("execute_timeout", timeout_secs = ctx$timeout)
        securer_abort(sprintf(paste0("Execution timed out after %s %s; the session ",
                                     "was restarted: its state (variables, loaded ",
                                     "packages) and the files put with $put_file() are gone."),
                              paste(ctx$timeout),
                              if (identical(as.numeric(ctx$timeout), 1)) "second" else "seconds"),
                      "securer_timeout")
      }
      msg <- switch(code,
        r_error = e$message,
        parse_error = paste0("Code has a syntax error and was not executed:\n\u2716 ",
                             e$message),
        session_busy = paste("<SecureSession> does not support concurrent",
          "`execute()` calls; wait for the current execution to complete."),
        tool_calls_exceeded = sprintf("Maximum tool calls (%s) exceeded",
                                      paste(ctx$max_tool_calls)),
        max_executions = sprintf("Maximum executions (%s) reached for this session.",
                                 paste(private$max_executions)),
        EIO = , ETRUNCATED = , closed = if (grepl("closed the connection", e$message))
          paste("Session is not running: securerd closed the connection",
                "without saying why (it was stopped or restarted);",
                "the session's state is lost.")
          else "Session is not running.",
        slow_client = , ESLOWCLIENT = paste("Session is not running: securerd dropped this client",
          "because it did not read its output in time (client-grace,",
          "securerd.conf(5)); the session's state is lost."),
        over_budget = , EOVERBUDGET = paste("Session is not running: securerd dropped this client",
          "because it held too much memory in the daemon (user-client-memory,",
          "securerd.conf(5)); the session's state is lost."),
        worker_died = paste0("R session died: ", json_member(e$json, "cause", e$message)),
        e$message)
      if (code %in% c("EIO", "ETRUNCATED", "closed", "ESLOWCLIENT", "EOVERBUDGET",
                      "slow_client", "over_budget")) {
        if (!is.null(private$ptr)) .Call(C_session_close, private$ptr)
        private$ptr <- NULL
      }
      vmsg(private$verbose, sprintf("Execution error: %s (%.2fs)", msg, el))
      if (!is.null(private$audit))
        private$audit("execute_error", error = msg, elapsed = sprintf("%.2fs", el))
      if (private$sanitize) stop(simpleError(sanitize_error_message(msg)))
      cls <- switch(code, r_error = "securer_r_error",
                    parse_error = "securer_syntax_error",
                    slow_client = , ESLOWCLIENT = "securer_slow_client",
                    over_budget = , EOVERBUDGET = "securer_over_budget",
                    paste0("securer_", code))
      # The sandboxed condition's own classes first, as R code tests them.
      if (identical(code, "r_error"))
        cls <- c(setdiff(as.character(unlist(json_member(e$json, "classes", NULL))),
                         c("securer_error", "error", "condition")), cls)
      securer_abort(msg, cls)
    }
  )
)

`%||%` <- function(a, b) if (is.null(a)) b else a

# $fork() hands the new object its source's private environment, the
# daemon's new session and its id here, for initialize() to take instead
# of its arguments: an R6 object is made only by $new().
fork_handover <- new.env(parent = emptyenv())

R_extptr_prot <- function(p) .Call(C_session_info, p)

# The reply's warnings: a value not returned is an R warning; the names
# of risky calls the worker's parse found are returned, as validate_code()
# words them.
result_warnings <- function(json) {
  if (is.null(json)) return(character(0))
  w <- tryCatch(jsonlite::fromJSON(json, simplifyVector = FALSE),
                error = function(e) list())
  adv <- character(0)
  for (x in w) {
    if (identical(x$code, "value_omitted"))
      warning(structure(class = c("securer_value_omitted", "warning", "condition"),
                        list(message = x$message, call = NULL)))
    if (identical(x$code, "risky_call") && is.character(x$call))
      adv <- c(adv, sprintf(
        "Code contains call to `%s()` which may be restricted by the sandbox", x$call))
  }
  adv
}

json_member <- function(json, name, default) {
  if (is.null(json)) return(default)
  v <- tryCatch(jsonlite::fromJSON(json)[[name]], error = function(e) NULL)
  if (is.null(v)) default else v
}

# Files move in chunks of this many bytes (file.put, file.get ranges):
# under the daemon's FILE_CHUNK_MAX (4 MiB) with room for base64.
file_chunk <- 1048576

# memory_busy: tries in all, and the first pause (seconds, doubling).
file_busy_tries <- 5L
file_busy_pause <- 0.05

# Every 16 MiB streamed, a collection: R's collector lags behind the
# chunks' raw vectors, and a 100 MB get to a path peaked 75 MB over R's
# own size with the garbage (12 MB with a collection per chunk).
collect_chunks <- function(offset) {
  if (offset %% (16 * file_chunk) == 0) gc(verbose = FALSE)
  invisible(NULL)
}
