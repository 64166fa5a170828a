# as_ellmer_tool() against a stand-in of ellmer's tool and content API
# (ellmer is not in Debian): rpkg/tests/ellmer-standin, installed here.

standin_lib <- function() {
  src <- normalizePath(file.path("..", "ellmer-standin"), mustWork = FALSE)
  if (!dir.exists(src)) src <- normalizePath(file.path("..", "..", "tests", "ellmer-standin"),
                                             mustWork = FALSE)
  if (!dir.exists(src)) skip("no ellmer stand-in")
  lib <- tempfile("ellmer_lib")
  dir.create(lib)
  out <- system2(file.path(R.home("bin"), "R"),
                 c("CMD", "INSTALL", "--no-test-load", "-l", shQuote(lib), shQuote(src)),
                 stdout = TRUE, stderr = TRUE)
  if (!dir.exists(file.path(lib, "ellmer"))) stop(paste(out, collapse = "\n"))
  lib
}

test_that("the stand-in has ellmer's documented signatures", {
  skip_if(requireNamespace("ellmer", quietly = TRUE) &&
            !identical(packageDescription("ellmer")$Version, "0.0.0.9000"),
          "the real ellmer is installed")
  lib <- standin_lib()
  ns <- loadNamespace("ellmer", lib.loc = lib)
  on.exit(unloadNamespace("ellmer"))
  # As ellmer's reference pages give them (tool.html without its
  # deprecated dot-arguments, Content.html, type_boolean.html).
  expect_identical(names(formals(ns$tool)),
                   c("fun", "description", "...", "arguments", "name", "convert", "annotations"))
  expect_identical(names(formals(ns$type_string)), c("description", "required"))
  expect_identical(names(formals(ns$ContentToolResult)), c("value", "error", "extra", "request"))
  expect_identical(names(formals(ns$ContentText)), "text")
  expect_identical(names(formals(ns$ContentImageInline)), c("type", "data"))
})

test_that("the tool sends plots as images and text without internal attributes", {
  skip_without_daemon()
  skip_if(requireNamespace("ellmer", quietly = TRUE) &&
            !identical(packageDescription("ellmer")$Version, "0.0.0.9000"),
          "the real ellmer is installed")
  lib <- standin_lib()
  loadNamespace("ellmer", lib.loc = lib)
  on.exit(unloadNamespace("ellmer"))
  s <- SecureSession$new()
  on.exit(s$close(), add = TRUE)
  t <- as_ellmer_tool(s, max_rows = 40)
  expect_s3_class(t, "ellmer::ToolDef")
  expect_identical(t$name, "execute_r_code")
  r <- t$fun("cat('hi\\n'); plot(1:3); head(mtcars, 40)")
  expect_s3_class(r, "ellmer::ContentToolResult")
  expect_length(r$value, 2L)
  txt <- r$value[[1]]$text
  expect_s3_class(r$value[[1]], "ellmer::ContentText")
  expect_s3_class(r$value[[2]], "ellmer::ContentImageInline")
  expect_identical(r$value[[2]]$type, "image/png")
  png <- jsonlite::base64_dec(r$value[[2]]$data)
  expect_identical(png[1:4], as.raw(c(0x89, 0x50, 0x4e, 0x47)))
  expect_no_match(txt, "attr(,", fixed = TRUE)
  lines <- strsplit(txt, "\n")[[1]]
  expect_identical(lines[1], "hi")
  # All 40 rows, under the limit.
  expect_true(any(grepl("^Volvo 142E", lines)))
  expect_true(any(grepl("^Mazda RX4 ", lines)))
  # A row limit: 10 of 32, and it says so.
  t10 <- as_ellmer_tool(s, max_rows = 10)
  txt <- t10$fun("mtcars")
  expect_type(txt, "character")
  expect_match(txt, "... (32 rows total, 10 shown)", fixed = TRUE)
  expect_false(grepl("Volvo 142E", txt))
  # Errors are the tool's error.
  e <- t$fun("stop('bad')")
  expect_identical(e$error, "bad")
  expect_error(as_ellmer_tool(s, max_rows = 0), "max_rows")
})
