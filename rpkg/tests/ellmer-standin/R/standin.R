# Signatures as ellmer's reference documents them (tool.html, Content.html,
# type_boolean.html); the objects are plain lists with a class naming
# ellmer's, enough to see what securer builds.
tool <- function(fun, description, ..., arguments = list(), name = NULL,
                 convert = TRUE, annotations = list()) {
  structure(list(fun = fun, description = description, arguments = arguments,
                 name = name, convert = convert, annotations = annotations),
            class = "ellmer::ToolDef")
}

type_string <- function(description = NULL, required = TRUE)
  structure(list(description = description, required = required),
            class = "ellmer::TypeBasic")

ContentToolResult <- function(value = NULL, error = NULL, extra = list(),
                              request = NULL)
  structure(list(value = value, error = error, extra = extra, request = request),
            class = c("ellmer::ContentToolResult", "ellmer::Content"))

ContentText <- function(text = stop("Required"))
  structure(list(text = text), class = c("ellmer::ContentText", "ellmer::Content"))

ContentImageInline <- function(type = stop("Required"), data = NULL)
  structure(list(type = type, data = data),
            class = c("ellmer::ContentImageInline", "ellmer::Content"))
