add <- securer_tool("add", "Add two numbers", function(a, b) a + b, list(a = "numeric", b = "numeric"))

test_that("tools are called from the sandboxed code", {
  skip_without_daemon()
  echo <- securer_tool("echo", "Echo", function(x) x, list(x = NULL))
  bad <- securer_tool("bad", "Fails", function() stop("tool failed in /home/u/file"))
  s <- SecureSession$new(tools = list(add, echo, bad))
  on.exit(s$close())
  expect_equal(s$execute("add(1, 2)"), 3)
  expect_identical(s$execute("add(0.1, 0.2)"), 0.1 + 0.2)
  for (v in list(pi, 1:3, NA_integer_, c(a = "x", b = NA), list(1, list("y")), NULL,
                 factor(c("u", "v")), data.frame(n = c(1.5, NA), s = c("a", "b"))))
    expect_identical(s$execute(sprintf("echo(%s)", paste(deparse(v), collapse = ""))), v)
  expect_error(s$execute("bad()"), "tool failed in [path]", fixed = TRUE)
  expect_equal(s$execute("tryCatch(bad(), error = function(e) 'caught')"), "caught")
  expect_error(s$execute("add('a', 1)"))
  expect_equal(s$execute("s <- 0; for (i in 1:1000) s <- add(s, 1); s"), 1000)
  expect_error(s$execute("for (i in 1:5) add(1, 1)", max_tool_calls = 2), "Maximum tool calls (2) exceeded", fixed = TRUE)
  expect_equal(s$tools()$add, list(name = "add", args = c("a", "b")))
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
  expect_equal(s$tools(), list(mul = list(name = "mul", args = NULL)))
})
