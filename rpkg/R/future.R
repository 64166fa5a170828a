#' An execution under way: $resolved() polls it without blocking,
#' $value() waits for it and returns its value or raises its error.
securer_future <- R6::R6Class("securer_future",
  cloneable = FALSE,
  public = list(
    #' The session's connection, for waiting on several at once.
    handle = NULL,
    initialize = function(poll, finish, on_done = NULL, handle = NULL) {
      private$poll_fn <- poll
      private$finish_fn <- finish
      private$on_done <- on_done
      self$handle <- handle
    },
    resolved = function(wait = 0) {
      if (private$done) return(TRUE)
      r <- private$poll_fn(wait)
      if (is.null(r)) return(FALSE)
      private$done <- TRUE
      private$result <- tryCatch(list(value = private$finish_fn(r)),
                                 error = function(e) list(error = e))
      if (!is.null(private$on_done)) private$on_done()
      TRUE
    },
    value = function() {
      while (!self$resolved(100)) NULL
      if (!is.null(private$result$error)) stop(private$result$error)
      private$result$value
    },
    add_done = function(f) {
      private$on_done <- f
      invisible(self)
    },
    #' The condition it ended with, or NULL (once resolved).
    error = function() private$result$error
  ),
  private = list(poll_fn = NULL, finish_fn = NULL, on_done = NULL,
                 done = FALSE, result = NULL)
)

#' @export
format.securer_future <- function(x, ...)
  sprintf("<securer_future> [%s]", if (x$resolved()) "resolved" else "running")

#' @export
print.securer_future <- function(x, ...) {
  cat(format(x), "\n")
  invisible(x)
}
