#' Runs code once in a new session, closed afterwards.
execute_r <- function(code, tools = list(), timeout = 30, sandbox = TRUE,
                      limits = NULL, verbose = FALSE, validate = TRUE,
                      sandbox_strict = FALSE, audit_log = NULL) {
  session <- SecureSession$new(tools = tools, sandbox = sandbox, limits = limits,
                               verbose = verbose, sandbox_strict = sandbox_strict,
                               audit_log = audit_log)
  on.exit(session$close())
  session$execute(code, timeout = timeout, validate = validate)
}

#' Calls fn with a new session, closed afterwards whatever happens.
with_secure_session <- function(fn, tools = list(), sandbox = TRUE, ...) {
  session <- SecureSession$new(tools = tools, sandbox = sandbox, ...)
  on.exit(session$close(), add = TRUE)
  fn(session)
}

#' An ellmer tool that runs R code in a session.
as_ellmer_tool <- function(session = NULL, tools = list(), sandbox = TRUE,
                           limits = NULL, timeout = 30) {
  if (!requireNamespace("ellmer", quietly = TRUE))
    securer_abort("Package ellmer is required for `as_ellmer_tool()`.")
  if (is.null(session)) {
    session <- SecureSession$new(tools = tools, sandbox = sandbox, limits = limits)
    holder <- new.env()
    holder$session <- session
    reg.finalizer(holder, function(e) e$session$close(), onexit = TRUE)
  }
  execute_fn <- function(code) {
    if (!session$is_alive())
      return(ellmer::ContentToolResult(error = paste(
        "SecureSession is no longer alive.",
        "Create a new tool with as_ellmer_tool().")))
    tryCatch(format_tool_result(session$execute(code, timeout = timeout)),
             error = function(e) ellmer::ContentToolResult(
               error = sanitize_error_message(conditionMessage(e))))
  }
  ellmer::tool(execute_fn, name = "execute_r_code",
    description = paste("Execute R code in a secure sandboxed environment.",
      "The code is run in an isolated R process with restricted file system",
      "and network access. Pass a single string of valid R code. The result",
      "of the last expression is returned."),
    arguments = list(code = ellmer::type_string(
      "A string containing valid R code to execute.")))
}

#' Deprecated name of as_ellmer_tool().
securer_as_ellmer_tool <- function(session = NULL, tools = list(),
                                   sandbox = TRUE, limits = NULL, timeout = 30) {
  warning("`securer_as_ellmer_tool()` was deprecated in securer 0.2.0.\n",
          "Please use `as_ellmer_tool()` instead.", call. = FALSE)
  as_ellmer_tool(session, tools, sandbox, limits, timeout)
}

# The text an LLM sees; the output is kept, scalars included.
format_tool_result <- function(value) {
  out <- attr(value, "output")
  if (!is.null(value)) attr(value, "output") <- NULL
  lines <- if (is.null(value)) "NULL"
    else if (is.atomic(value) && length(value) == 1) as.character(value)
    else if (is.data.frame(value)) {
      l <- utils::capture.output(print(value, max = 50))
      if (length(l) > 30) c(l[1:30], sprintf("... (%d rows total)", nrow(value))) else l
    } else {
      l <- utils::capture.output(print(value))
      if (length(l) > 50) c(l[1:50], "... (output truncated)") else l
    }
  paste(c(out, lines), collapse = "\n")
}
