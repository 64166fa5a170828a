add <- securer_tool("add", "Add two numbers", function(a, b) a + b, list(a = "numeric", b = "numeric"))

test_that("tools are called from the sandboxed code", {
  skip_without_daemon()
  echo <- securer_tool("echo", "Echo", function(x) x, list(x = NULL))
  bad <- securer_tool("bad", "Fails", function() stop("tool failed in /home/u/file"))
  s <- SecureSession$new(tools = list(add, echo, bad))
  on.exit(s$close())
  expect_equal(s$execute("add(1, 2)"), 3)
  expect_identical(s$execute("add(0.1, 0.2)"), 0.1 + 0.2)
  # deparse() keeps 15 digits unless told: pi must be written in full.
  for (v in list(pi, 1:3, NA_integer_, c(a = "x", b = NA), list(1, list("y")), NULL,
                 factor(c("u", "v")), data.frame(n = c(1.5, NA), s = c("a", "b"))))
    expect_identical(s$execute(sprintf("echo(%s)", paste(deparse(v, control = c(
      "keepNA", "keepInteger", "niceNames", "showAttributes", "digits17")), collapse = ""))), v)
  expect_error(s$execute("bad()"), "tool failed in [path]", fixed = TRUE)
  expect_equal(s$execute("tryCatch(bad(), error = function(e) 'caught')"), "caught")
  expect_error(s$execute("add('a', 1)"))
  expect_equal(s$execute("s <- 0; for (i in 1:1000) s <- add(s, 1); s"), 1000)
  expect_error(s$execute("for (i in 1:5) add(1, 1)", max_tool_calls = 2), "Maximum tool calls (2) exceeded", fixed = TRUE)
  expect_identical(s$tools()$add, list(name = "add", args = c("a", "b")))
  expect_identical(names(s$tools()), c("add", "echo", "bad"))
  expect_identical(s$tools()$bad$args, character(0))
})

test_that("values cross every way exactly: tool value in, argument out, result back", {
  skip_without_daemon()
  vals <- list(
    pi, -0, 0.1 + 0.2, 5e-324, .Machine$double.xmax, Inf, -Inf, NaN, NA_real_, c(NA_real_, NaN),
    1L, .Machine$integer.max, -.Machine$integer.max, NA_integer_, c(TRUE, NA), NA,
    NA_character_, c(a = "x", b = NA), c(a = 1, 2), stats::setNames(1:2, c("a", NA)),
    character(0), integer(0), numeric(0), logical(0), list(), stats::setNames(list(), character(0)),
    list(a = NULL), list(NULL, NULL), list(1, list("y", list(NA))),
    "\u00e9\u4e2d\U0001F600", "a\tb\\c\001\"", as.raw(c(0, 127, 255)),
    1i, complex(real = NA, imaginary = 1), NA_complex_,
    factor(c("a", NA), exclude = NULL), factor(c("a", "b", NA)),
    factor(c("lo", "hi"), levels = c("lo", "hi"), ordered = TRUE),
    data.frame(), data.frame(n = c(1.5, NA), s = c("a", "b")),
    data.frame(x = 1:3, row.names = c("a", "b", "c")), data.frame(x = 1:2)[2:1, , drop = FALSE],
    datasets::mtcars[1:3, ], datasets::iris[c(1, 51, 101), ],
    as.Date("2024-01-02"), as.POSIXct("2024-01-02 03:04:05.25", tz = "UTC"),
    as.difftime(3, units = "mins"), matrix(1:4, 2, dimnames = list(c("a", "b"), NULL)),
    array(1:24, 2:4), table(c("a", "b", "a")), I("x"),
    structure(list(1), foo = "bar", class = "myclass"),
    structure(1, names = "x", extra = list(1, "a")))
  echo <- securer_tool("echo", "Echo", function(x) x, list(x = NULL))
  getv <- securer_tool("getv", "The i-th value", function(i) vals[[i]], list(i = "numeric"))
  s <- SecureSession$new(tools = list(echo, getv))
  on.exit(s$close())
  for (i in seq_along(vals)) {
    # the tool's value to the worker, back as the result
    expect_identical(s$execute(sprintf("v <- getv(%d); v", i)), vals[[i]], label = sprintf("value %d", i))
    # and as an argument of a tool call, its value back, then the result
    expect_identical(s$execute("echo(v)"), vals[[i]], label = sprintf("echoed value %d", i))
  }
  expect_true(s$execute(sprintf("identical(v, %s)", paste(deparse(vals[[length(vals)]]), collapse = ""))))
})

test_that("a tool that errors, warns, or is called 1,000 times", {
  skip_without_daemon()
  n <- 0
  count <- securer_tool("count", "Counts its calls", function() { n <<- n + 1; n })
  warns <- securer_tool("warns", "Warns", function() { warning("tool warning"); 1 })
  bad <- securer_tool("bad", "Fails", function(x) stop("no good: ", x), list(x = "character"))
  s <- SecureSession$new(tools = list(count, warns, bad))
  on.exit(s$close())
  expect_identical(s$execute("for (i in 1:1000) k <- count(); k"), 1000)
  expect_identical(n, 1000)
  # The caller's handlers see what a tool signals.
  expect_warning(expect_equal(s$execute("warns()"), 1), "tool warning")
  expect_error(s$execute("bad('x')"), "^no good: x$", class = "securer_r_error")
  expect_identical(s$execute("r <- tryCatch(bad('y'), error = conditionMessage); r"), "no good: y")
  expect_error(s$execute("bad(1)"), "character")
  expect_error(s$execute("count(1)"))
  # The session goes on after all of them.
  expect_identical(s$execute("count()"), 1001)
})

test_that("an exiting handler around an execution unwinds through a tool call", {
  skip_without_daemon()
  t <- securer_tool("shout", "Messages", function() { message("from the tool"); 2 })
  s <- SecureSession$new(tools = list(t))
  on.exit(s$close())
  r <- tryCatch(s$execute("shout()"), message = function(m) conditionMessage(m))
  expect_identical(r, "from the tool\n")
  # The session is usable again.
  expect_equal(s$execute("1 + 1"), 2)
  expect_equal(suppressMessages(s$execute("shout()")), 2)
})

test_that("tool calls are logged when verbose", {
  skip_without_daemon()
  s <- suppressMessages(SecureSession$new(tools = list(add), verbose = TRUE))
  on.exit(suppressMessages(s$close()))
  m <- character(0)
  withCallingHandlers(s$execute("add(1, 2)"), message = function(c) {
    m <<- c(m, conditionMessage(c)); invokeRestart("muffleMessage") })
  expect_true(any(grepl("[securer] Tool call: add(a=1, b=2)", m, fixed = TRUE)))
  expect_true(any(grepl("[securer] Tool result: add -> 3 (", m, fixed = TRUE)))
})

test_that("the legacy tool form still works, with its warning", {
  skip_without_daemon()
  expect_warning(s <- SecureSession$new(tools = list(mul = function(a, b) a * b)), "deprecated")
  on.exit(s$close())
  expect_equal(s$execute("mul(3, 4)"), 12)
  # securer 0.2.0 lists legacy tools unnamed.
  expect_identical(s$tools(), list(list(name = "mul", args = NULL)))
})
