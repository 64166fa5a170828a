#' A pool of pre-started sessions.  Executions run in parallel: from
#' several R processes forked from the one that made the pool (each slot
#' is locked across them), or from one process with $execute_async() and
#' $map().
SecureSessionPool <- R6::R6Class("SecureSessionPool",
  cloneable = FALSE,
  public = list(
    initialize = function(size = 4L, tools = list(), sandbox = TRUE,
                          limits = NULL, verbose = FALSE,
                          reset_between_uses = FALSE, timeout = 30) {
      if (!is.numeric(timeout) || length(timeout) != 1L || is.na(timeout) ||
          timeout <= 0)
        securer_abort(sprintf("`timeout` must be a single positive number, not %s.",
                              val(timeout)))
      private$timeout <- timeout
      size <- as.integer(size)
      if (length(size) != 1 || is.na(size) || size < 1)
        securer_abort(sprintf("`size` must be at least 1, not %s.", val(size)))
      if (size > 100)
        securer_abort(sprintf("`size` must not exceed 100, got %d.", size))
      private$args <- list(tools = tools, sandbox = sandbox, limits = limits,
                           verbose = verbose)
      private$reset <- isTRUE(reset_between_uses)
      private$lockdir <- tempfile("securer_pool_")
      dir.create(private$lockdir, mode = "0700")
      private$sessions <- vector("list", size)
      ok <- FALSE
      on.exit(if (!ok) self$close())
      for (i in seq_len(size)) private$sessions[[i]] <- private$new_session()
      private$busy <- rep(FALSE, size)
      ok <- TRUE
      invisible(self)
    },

    execute = function(code, timeout = NULL, acquire_timeout = NULL) {
      i <- private$acquire(acquire_timeout)
      on.exit(private$release(i))
      private$sessions[[i]]$execute(code, timeout = timeout %||% private$timeout)
    },

    execute_async = function(code, timeout = NULL, acquire_timeout = NULL) {
      timeout <- timeout %||% private$timeout
      i <- private$acquire(acquire_timeout)
      f <- tryCatch(private$sessions[[i]]$execute_async(code, timeout = timeout),
                    error = function(e) { private$release(i); stop(e) })
      if (!inherits(f, "securer_future")) {
        private$release(i)
        v <- f
        return(securer_future$new(poll = function(ms) list(), finish = function(r) v))
      }
      private$pending[[length(private$pending) + 1]] <- f
      f$add_done(function() {
        private$pending <- Filter(function(x) !identical(x, f), private$pending)
        private$release(i)
      })
      f
    },

    #' Runs each code on the pool's sessions, as many at once as it has,
    #' and returns one result per code, in order: its value, or the
    #' condition it failed with (stop_on_error = TRUE: raise the first).
    #' While any runs, every running job's tool calls and output are
    #' served.  Each job has `timeout` seconds (the pool's by default);
    #' `deadline` seconds for them all (default: none past the jobs' own)
    #' ends what is still running or waiting with a securer_deadline
    #' condition.
    map = function(codes, timeout = NULL, stop_on_error = FALSE, deadline = NULL) {
      if (private$closed) securer_abort("Pool is closed.")
      codes <- as.list(codes)
      timeout <- timeout %||% private$timeout
      n <- length(codes)
      results <- vector("list", n)
      running <- list()   # job index -> future
      nxt <- 1L
      until <- if (is.null(deadline)) Inf else as.numeric(Sys.time()) + deadline
      failed <- NULL
      on.exit(for (f in running) private$abandon(f))
      while (nxt <= n || length(running)) {
        while (nxt <= n && is.null(failed) && !is.null(i <- private$try_acquire())) {
          f <- tryCatch(private$start(i, codes[[nxt]], timeout),
                        error = function(e) e)
          if (inherits(f, "condition")) {
            results[nxt] <- list(f)
            if (stop_on_error) failed <- f
          } else running[[as.character(nxt)]] <- f
          nxt <- nxt + 1L
        }
        if (!is.null(failed) && !length(running)) break
        if (as.numeric(Sys.time()) >= until) {
          for (k in names(running)) {
            private$abandon(running[[k]])
            results[as.integer(k)] <- list(deadline_error(deadline))
          }
          running <- list()
          if (nxt <= n)
            for (k in nxt:n) results[k] <- list(deadline_error(deadline))
          nxt <- n + 1L
          break
        }
        if (length(running)) {
          .Call(C_wait_any, lapply(running, function(f) f$handle),
                as.integer(max(1, min(100, (until - as.numeric(Sys.time())) * 1000))))
          for (k in names(running)) {
            f <- running[[k]]
            if (!f$resolved(0)) next
            running[[k]] <- NULL
            e <- f$error()
            results[as.integer(k)] <- list(if (is.null(e)) f$value() else e)
            if (!is.null(e) && stop_on_error && is.null(failed)) failed <- e
          }
        } else if (nxt <= n) {
          # All sessions taken by others (forked processes): wait a little.
          Sys.sleep(0.02)
        }
      }
      on.exit()
      if (!is.null(failed)) stop(failed)
      results
    },

    status = function() {
      if (private$closed) return(list(total = 0L, busy = 0L, idle = 0L, dead = 0L))
      alive <- vapply(private$sessions, function(s) s$is_alive(), logical(1))
      list(total = length(private$sessions), busy = sum(private$busy),
           idle = sum(!private$busy & alive), dead = sum(!alive))
    },

    size = function() length(private$sessions),

    available = function() if (private$closed) 0L else sum(!private$busy),

    close = function() {
      for (s in private$sessions)
        if (!is.null(s)) tryCatch(s$close(), error = function(e) NULL)
      private$sessions <- list()
      private$busy <- logical(0)
      private$closed <- TRUE
      if (!is.null(private$lockdir)) unlink(private$lockdir, recursive = TRUE)
      invisible(self)
    },

    format = function(...) {
      if (private$closed) return("<SecureSessionPool> [closed]")
      sprintf("<SecureSessionPool> size=%d idle=%d busy=%d",
              length(private$sessions), sum(!private$busy), sum(private$busy))
    },

    print = function(...) {
      if (private$closed) { message("<SecureSessionPool> [closed]"); return(invisible(self)) }
      message("<SecureSessionPool>")
      message("* Pool size: ", length(private$sessions))
      message("* Active: ", sum(private$busy))
      message("* Idle: ", sum(!private$busy))
      invisible(self)
    }
  ),

  private = list(
    sessions = list(), busy = logical(0), locks = list(), args = NULL,
    reset = FALSE, closed = FALSE, lockdir = NULL, pending = list(),
    timeout = 30,

    # A job on slot i (acquired): its future, which frees the slot when
    # it ends, whatever way.
    start = function(i, code, timeout) {
      f <- tryCatch(private$sessions[[i]]$execute_async(code, timeout = timeout),
                    error = function(e) { private$release(i); stop(e) })
      if (!inherits(f, "securer_future")) {
        private$release(i)
        v <- f
        return(securer_future$new(poll = function(ms) list(), finish = function(r) v))
      }
      f$add_done(function() private$release(i))
      attr(f, "slot") <- i
      f
    },

    # A job given up (deadline, an interrupt): its session is replaced,
    # which ends its execution, and its slot freed.
    abandon = function(f) {
      i <- attr(f, "slot")
      if (is.null(i) || private$closed || i > length(private$sessions)) return()
      tryCatch(private$sessions[[i]]$close(), error = function(e) NULL)
      private$sessions[i] <- list(tryCatch(private$new_session(), error = function(e) NULL))
      private$release(i)
    },

    new_session = function()
      SecureSession$new(tools = private$args$tools,
                        sandbox = private$args$sandbox,
                        limits = private$args$limits,
                        verbose = private$args$verbose),

    # A free slot: not busy here, and its lock taken (so that no process
    # forked from this one uses it at the same time).
    try_acquire = function() {
      for (i in seq_along(private$sessions)) {
        if (private$busy[i]) next
        fd <- .Call(C_trylock, file.path(private$lockdir, paste0("slot", i)))
        if (fd < 0) next
        private$busy[i] <- TRUE
        private$locks[[i]] <- fd
        if (is.null(private$sessions[[i]]) || !private$sessions[[i]]$is_alive()) {
          tryCatch(private$sessions[[i]]$close(), error = function(e) NULL)
          private$sessions[[i]] <- tryCatch(private$new_session(), error = function(e) {
            private$release(i)
            stop(e)
          })
        }
        return(i)
      }
      NULL
    },

    acquire = function(acquire_timeout) {
      if (private$closed) securer_abort("Pool is closed.")
      deadline <- Sys.time() + (if (is.null(acquire_timeout)) 0 else acquire_timeout)
      repeat {
        i <- private$try_acquire()
        if (!is.null(i)) return(i)
        if (is.null(acquire_timeout) || Sys.time() >= deadline)
          securer_abort("All sessions are busy.")
        # Our own executions under way can end while we wait.
        for (f in private$pending) f$resolved(0)
        Sys.sleep(0.02)
      }
    },

    release = function(i) {
      if (private$closed || i > length(private$sessions) || !private$busy[i])
        return(invisible())
      if (private$reset && !is.null(private$sessions[[i]]))
        tryCatch(private$sessions[[i]]$restart(), error = function(e) NULL)
      .Call(C_unlock, private$locks[[i]])
      private$locks[i] <- list(NULL)
      private$busy[i] <- FALSE
      invisible()
    }
  )
)

deadline_error <- function(deadline)
  structure(class = c("securer_deadline", "securer_error", "error", "condition"),
            list(message = sprintf("The pool's deadline (%s s) passed before the job ended.",
                                   paste(deadline)), call = NULL))
