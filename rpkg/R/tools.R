ident_re <- "^[A-Za-z.][A-Za-z0-9_.]*$"

type_check_map <- list(
  numeric = is.numeric, character = is.character, logical = is.logical,
  integer = is.integer, list = is.list, data.frame = is.data.frame
)

#' A tool: an R function the sandboxed code may call, run in this process.
securer_tool <- function(name, description, fn, args = list()) {
  if (!is.character(name) || length(name) != 1 || is.na(name) || !nzchar(name))
    securer_abort(sprintf("`name` must be a non-empty string, not %s.", cls(name)))
  if (!is.character(description) || length(description) != 1)
    securer_abort(sprintf("`description` must be a character string, not %s.",
                          cls(description)))
  if (!is.function(fn))
    securer_abort(sprintf("`fn` must be a function, not %s.", cls(fn)))
  if (!is.list(args))
    securer_abort(sprintf("`args` must be a list, not %s.", cls(args)))
  if (!grepl(ident_re, name))
    securer_abort(sprintf("Tool name must be a valid R identifier, not %s.",
                          val(name)))
  bad <- names(args)[!grepl(ident_re, names(args))]
  if (length(args) > 0 && (is.null(names(args)) || length(bad) > 0))
    securer_abort(sprintf("Argument names must be valid R identifiers: %s.",
                          val(if (is.null(names(args))) "" else bad)))
  structure(list(name = name, description = description, fn = fn,
                 args = args), class = "securer_tool")
}

#' The class of tools; here a constructor alias of securer_tool().
securer_tool_class <- securer_tool

#' @export
format.securer_tool <- function(x, ...) {
  d <- x$description
  if (nchar(d) > 60) d <- paste0(substr(d, 1, 57), "...")
  n <- length(x$args)
  c("<securer_tool>", paste0("  Name: ", x$name), paste0("  Description: ", d),
    paste0("  Args: ", n, if (n == 1) " arg" else " args"))
}

#' @export
print.securer_tool <- function(x, ...) {
  cat(format(x), sep = "\n")
  invisible(x)
}

# The tools as list(name -> list(name, description, fn, args, legacy)).
validate_tools <- function(tools) {
  if (length(tools) == 0) return(list())
  if (!is.null(names(tools)) && all(nzchar(names(tools))) &&
      all(vapply(tools, is.function, logical(1)))) {
    warning("Passing tools as a named list of functions is deprecated. ",
            "Use securer_tool() objects instead.", call. = FALSE)
    bad <- names(tools)[!grepl(ident_re, names(tools))]
    if (length(bad))
      securer_abort(sprintf("Legacy tool names must be valid R identifiers: %s.",
                            val(bad)))
    out <- lapply(names(tools), function(nm) {
      # No metadata: the function's own argument names, untyped.
      f <- setdiff(names(formals(tools[[nm]])), "...")
      list(name = nm, description = "", fn = tools[[nm]],
           args = stats::setNames(rep(list(""), length(f)), f), legacy = TRUE)
    })
    return(stats::setNames(out, names(tools)))
  }
  if (!all(vapply(tools, inherits, logical(1), "securer_tool")))
    securer_abort("Each tool must be created with `securer_tool()`.")
  nms <- vapply(tools, function(t) t$name, "")
  if (anyDuplicated(nms))
    securer_abort(sprintf("Duplicate tool names: %s.",
                          val(unique(nms[duplicated(nms)]))))
  out <- lapply(tools, function(t) c(unclass(t), legacy = FALSE))
  stats::setNames(out, nms)
}

# The tool specifications of session.create, as JSON.
tools_json <- function(tools) {
  if (length(tools) == 0) return(NULL)
  specs <- lapply(unname(tools), function(t) {
    args <- lapply(t$args, function(a) {
      if (is.null(a) || !is.character(a) || !nzchar(a[1]) ||
          !(a[1] %in% names(type_check_map))) "" else a[1]
    })
    list(name = t$name, description = t$description,
         args = if (length(args)) args else structure(list(), names = character()))
  })
  as.character(jsonlite::toJSON(specs, auto_unbox = TRUE))
}
