# What crosses from the sandbox without being plain data (see
# ?securer_values): the codec (rvalue/decode.c) makes the stand-ins, the
# functions here give the environments they bring a parent, rebuild
# from the client's own code the few objects that need functions
# (families of glm, data.table's self-reference), and print them.

# The functions a model's formula may call when it is evaluated against
# new data (predict(), model.frame()): pure ones, of base and stats,
# and nothing that reaches others (no get, match.fun, do.call, eval,
# environment, `::` but our own).  An environment from the sandbox is an
# empty child of .model_env, so that its code finds these and only
# these.
model_env_base <- c(
  "list", "c", "(", "{", "+", "-", "*", "/", "^", "%%", "%/%", "%in%",
  "==", "!=", "<", ">", "<=", ">=", "&", "|", "!", "&&", "||", ":", "~",
  "[", "[[", "$", "log", "log2", "log10", "log1p", "exp", "expm1", "sqrt",
  "abs", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
  "tanh", "floor", "ceiling", "round", "signif", "trunc", "pmin", "pmax",
  "I", "as.numeric", "as.double", "as.integer", "as.character",
  "as.logical", "factor", "as.factor", "ordered", "interaction", "cut",
  "ifelse", "is.na", "cbind", "rbind", "matrix", "rep", "seq", "seq_len",
  "length", "nchar", "scale", "sum", "mean", "min", "max", "range",
  "t", "diag", "nlevels", "levels", "droplevels", "rev", "sort", "cumsum",
  "NROW", "NCOL", "nrow", "ncol", "TRUE", "FALSE", "pi", "T", "F")
model_env_stats <- c("offset", "poly", "relevel", "na.omit", "na.pass",
  "na.exclude", "na.fail", "qlogis", "plogis", "qnorm", "pnorm")
model_env_splines <- c("ns", "bs")

make_model_env <- function() {
  env <- new.env(parent = emptyenv())
  for (n in model_env_base)
    if (exists(n, envir = baseenv(), inherits = FALSE))
      assign(n, get(n, envir = baseenv(), inherits = FALSE), envir = env)
  stats <- asNamespace("stats")
  for (n in model_env_stats) assign(n, get(n, envir = stats), envir = env)
  if (requireNamespace("splines", quietly = TRUE)) {
    sp <- asNamespace("splines")
    for (n in model_env_splines) assign(n, get(n, envir = sp), envir = env)
  }
  # pkg::name only for the names above.
  assign("::", function(pkg, name) {
    name <- as.character(substitute(name))
    if (length(name) != 1L || !exists(name, envir = env, inherits = FALSE) ||
        name %in% c("::", ":::"))
      securer_abort(sprintf("`%s` is not available to a formula from the sandbox",
                            paste(name, collapse = "")), "securer_not_available")
    get(name, envir = env, inherits = FALSE)
  }, envir = env)
  lockEnvironment(env, bindings = TRUE)
  env
}

# The text of a call or a function for the codec (as the worker's).
.deparse <- function(x) tryCatch({
  lang <- is.call(x)
  if (!is.primitive(x)) attributes(x) <- NULL
  d <- paste(deparse(x, width.cutoff = 500L, backtick = TRUE,
                     control = c("keepInteger", "keepNA", "niceNames",
                                 "digits17")), collapse = "\n")
  if (lang) {
    p <- tryCatch(parse(text = d, keep.source = FALSE), error = function(e) NULL)
    if (length(p) != 1L || !is.call(p[[1L]])) return(NULL)
  }
  d
}, error = function(e) NULL)

# The families of stats whose functions the client rebuilds from its own
# code, by name and link: nothing of the sandbox's is called.
revive_families <- c("binomial", "gaussian", "Gamma", "inverse.gaussian",
                     "poisson", "quasibinomial", "quasipoisson")

revive_family <- function(f) {
  fam <- f$family
  link <- f$link
  if (!is.character(fam) || length(fam) != 1L || !(fam %in% revive_families) ||
      !is.character(link) || length(link) != 1L || is.na(link))
    return(f)
  g <- tryCatch(do.call(get(fam, envir = asNamespace("stats")), list(link = link)),
                error = function(e) NULL)
  if (is.null(g)) f else g
}

# Lists the decoder marked (a family, a data.table somewhere): rebuilt.
.revive <- function(x) {
  if (!is.list(x) || inherits(x, "securer_unsupported")) return(x)
  if (inherits(x, "family")) return(revive_family(x))
  cl <- oldClass(x)
  y <- unclass(x)
  for (i in seq_along(y))
    if (is.list(y[[i]])) {
      v <- .revive(y[[i]])
      if (!is.null(v)) y[[i]] <- v
    }
  oldClass(y) <- cl
  if (inherits(y, "data.table") && requireNamespace("data.table", quietly = TRUE))
    y <- tryCatch(data.table::setalloccol(y), error = function(e) y)
  # Its methods, as unserialize() would not have them until loaded.
  if (inherits(y, "tbl_df")) requireNamespace("tibble", quietly = TRUE)
  y
}

standin_class <- function(x) {
  cl <- attr(x, "securer_class", exact = TRUE)
  if (is.character(cl) && length(cl)) paste0(" of class ", paste(cl, collapse = "/"))
  else ""
}

#' @export
format.securer_unsupported <- function(x, ...) {
  path <- unclass(x)$path
  sprintf("<securer_unsupported%s: %s%s cannot cross>", standin_class(x),
          if (nzchar(path)) paste0("its part ", path, ", ") else "",
          unclass(x)$rtype)
}

#' @export
print.securer_unsupported <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  p <- unclass(x)$printed
  if (is.character(p) && nzchar(p)) cat(p, if (!endsWith(p, "\n")) "\n", sep = "")
  invisible(x)
}

#' @export
format.securer_function <- function(x, ...)
  sprintf("<securer_function%s: the source of a function of the sandbox, not callable>",
          standin_class(x))

#' @export
print.securer_function <- function(x, ...) {
  cat(format(x), "\n", unclass(x)[1], "\n", sep = "")
  invisible(x)
}

#' @export
format.securer_reference <- function(x, ...)
  sprintf("<securer_reference: a %s of the sandbox>", unclass(x)[1])

#' @export
print.securer_reference <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}

#' @export
format.securer_s4 <- function(x, ...)
  sprintf("<securer_s4%s: the slots of an S4 object>", standin_class(x))

#' @export
print.securer_s4 <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  y <- unclass(x)
  attr(y, "securer_class") <- NULL
  print(y, ...)
  invisible(x)
}
