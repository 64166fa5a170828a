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
                           limits = NULL, timeout = 30, max_rows = 50L) {
  if (!requireNamespace("ellmer", quietly = TRUE))
    securer_abort("Package ellmer is required for `as_ellmer_tool()`.",
                  "securer_missing_package")
  if (!is.numeric(max_rows) || length(max_rows) != 1L || is.na(max_rows) ||
      max_rows < 1)
    securer_abort(sprintf("`max_rows` must be a single positive number, not %s.",
                          val(max_rows)))
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
    r <- tryCatch(list(value = session$execute(code, timeout = timeout)),
                  error = function(e) list(error = e))
    if (!is.null(r$error))
      return(ellmer::ContentToolResult(
        error = sanitize_error_message(conditionMessage(r$error))))
    tool_result_content(r["value"], session$last_plots(), max_rows)
  }
  ellmer::tool(execute_fn, name = "execute_r_code",
    description = paste("Execute R code in a secure sandboxed environment.",
      "The code is run in an isolated R process with restricted file system",
      "and network access. Pass a single string of valid R code. The result",
      "of the last expression is returned, with the pages it plotted as",
      "images."),
    arguments = list(code = ellmer::type_string(
      "A string containing valid R code to execute.")))
}

# What the model gets: the text, and each plot as ellmer's inline image
# content; text alone when nothing was drawn.
tool_result_content <- function(r, plots, max_rows) {
  text <- format_tool_result(r$value, max_rows = max_rows)
  if (length(plots) == 0L) return(text)
  images <- lapply(plots, function(p)
    ellmer::ContentImageInline("image/png", jsonlite::base64_enc(unclass(p))))
  ellmer::ContentToolResult(value = c(list(ellmer::ContentText(text)),
                                      unname(images)))
}

#' Deprecated name of as_ellmer_tool().
securer_as_ellmer_tool <- function(session = NULL, tools = list(),
                                   sandbox = TRUE, limits = NULL, timeout = 30) {
  warning("`securer_as_ellmer_tool()` was deprecated in securer 0.2.0.\n",
          "Please use `as_ellmer_tool()` instead.", call. = FALSE)
  as_ellmer_tool(session, tools, sandbox, limits, timeout)
}

# The text a model sees: the output, then the value as print() shows it
# without the package's attributes (output, plots); a data frame's first
# max_rows rows, other printed forms cut at 50 lines.
format_tool_result <- function(value, max_rows = 50L) {
  out <- attr(value, "output", exact = TRUE)
  if (!is.null(value)) {
    attr(value, "output") <- NULL
    attr(value, "plots") <- NULL
  }
  lines <- if (is.null(value)) "NULL"
    else if (is.atomic(value) && length(value) == 1 && is.null(attributes(value)))
      as.character(value)
    else if (is.data.frame(value)) {
      l <- utils::capture.output(print(utils::head(value, max_rows)))
      if (nrow(value) > max_rows)
        c(l, sprintf("... (%d rows total, %d shown)", nrow(value), as.integer(max_rows)))
      else l
    } else {
      l <- utils::capture.output(print(value))
      if (length(l) > 50) c(l[1:50], "... (output truncated)") else l
    }
  paste(c(out, lines), collapse = "\n")
}
