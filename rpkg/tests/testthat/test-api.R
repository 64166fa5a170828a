test_that("securer_tool validates as securer does", {
  expect_error(securer_tool("", "d", identity), "`name` must be a non-empty string, not <character>.", fixed = TRUE)
  expect_error(securer_tool(1, "d", identity), "not <numeric>.", fixed = TRUE)
  expect_error(securer_tool("a", 1, identity), "`description` must be a character string, not <numeric>.", fixed = TRUE)
  expect_error(securer_tool("a", "d", 1), "`fn` must be a function, not <numeric>.", fixed = TRUE)
  expect_error(securer_tool("a", "d", identity, "x"), "`args` must be a list, not <character>.", fixed = TRUE)
  expect_error(securer_tool("a b", "d", identity), 'Tool name must be a valid R identifier, not "a b".', fixed = TRUE)
  expect_error(securer_tool("a", "d", identity, list(`a b` = "numeric")),
               'Argument names must be valid R identifiers: "a b".', fixed = TRUE)
  t <- securer_tool("add", strrep("x", 70), function(a, b) a + b, list(a = "numeric", b = "numeric"))
  expect_s3_class(t, "securer_tool")
  expect_identical(securer_tool_class, securer_tool)
  expect_equal(format(t), c("<securer_tool>", "  Name: add",
                            paste0("  Description: ", strrep("x", 57), "..."), "  Args: 2 args"))
  expect_output(print(securer_tool("one", "d", identity, list(x = NULL))), "Args: 1 arg")
})

test_that("session-level tool validation", {
  v <- securer:::validate_tools
  expect_equal(v(list()), list())
  expect_warning(v(list(f = function(x) x)), "Passing tools as a named list of functions is deprecated. Use securer_tool() objects instead.", fixed = TRUE)
  expect_error(suppressWarnings(v(list(`a b` = function() 1))), 'Legacy tool names must be valid R identifiers: "a b".', fixed = TRUE)
  expect_error(v(list(1)), "Each tool must be created with `securer_tool()`.", fixed = TRUE)
  t <- securer_tool("a", "d", identity)
  expect_error(v(list(t, t)), 'Duplicate tool names: "a".', fixed = TRUE)
})

test_that("validate_code parses and flags calls by token", {
  expect_equal(validate_code("1 +"), list(valid = FALSE, error = validate_code("1 +")$error, warnings = character(0)))
  expect_false(validate_code("f(")$valid)
  expect_true(validate_code("")$valid)
  expect_equal(validate_code("x <- 1")$warnings, character(0))
  expect_equal(validate_code("x <- .Call('f')")$warnings,
               "Code contains call to `.Call()` which may be restricted by the sandbox")
  expect_equal(validate_code("# system('ls')\n'system(1)'")$warnings, character(0))
  expect_equal(validate_code("processx::run('ls'); system2('x')")$warnings,
               c("Code contains call to `system2()` which may be restricted by the sandbox",
                 "Code contains call to `processx::run()` which may be restricted by the sandbox"))
  expect_equal(validate_code("x.pipe(1)")$warnings, character(0))
  expect_error(validate_code(1), "`code` must be a single character string")
})

test_that("default_limits and limit validation", {
  expect_identical(default_limits(), list(cpu = 60, memory = 536870912, fsize = 52428800,
                                          nproc = 50, nofile = 256))
  expect_error(securer:::validate_limits(list(foo = 1)),
               "Unknown limit name(s): foo. Valid names: cpu, memory, fsize, nproc, nofile, stack", fixed = TRUE)
  expect_error(securer:::validate_limits(list(cpu = -1)),
               "Limit 'cpu' must be a single positive number, got: -1", fixed = TRUE)
})

test_that("constructor errors come before any daemon is asked", {
  expect_error(SecureSession$new(max_executions = 0),
               "`max_executions` must be a single positive number, not 0.", fixed = TRUE)
  expect_error(SecureSession$new(max_executions = "a"), 'not "a".', fixed = TRUE)
  expect_error(SecureSession$new(pre_execute_hook = 1),
               "`pre_execute_hook` must be a function, not <numeric>.", fixed = TRUE)
  expect_error(SecureSession$new(audit_log = ""), "audit_log path must be a non-empty character string", fixed = TRUE)
  expect_error(SecureSessionPool$new(size = 0), "`size` must be at least 1, not 0.", fixed = TRUE)
  expect_error(SecureSessionPool$new(size = 101), "`size` must not exceed 100, got 101.", fixed = TRUE)
})

test_that("sanitize_error_message", {
  s <- securer:::sanitize_error_message
  expect_equal(s(NULL), "Unknown error")
  expect_equal(s("open /home/u/secret failed"), "open [path] failed")
  expect_equal(s("process 1234 died"), "process [pid] died")
  expect_equal(s("connect to example.com:80"), "connect to [host]")
  expect_equal(s("x\nTraceback:\n 1: f()"), "x\n")
  expect_equal(nchar(s(strrep("a", 600))), 500)
})

test_that("ellmer integration errors clearly without ellmer", {
  skip_if(requireNamespace("ellmer", quietly = TRUE), "ellmer is installed")
  expect_error(as_ellmer_tool(), "Package ellmer is required for `as_ellmer_tool()`.", fixed = TRUE)
  expect_warning(expect_error(securer_as_ellmer_tool(), "ellmer is required"), "deprecated")
  expect_equal(securer:::format_tool_result(NULL), "NULL")
  expect_equal(securer:::format_tool_result(structure(3, output = "hi")), "hi\n3")
})

test_that("the codec round-trips values exactly", {
  vals <- list(pi, 1L, NA_integer_, NA, NA_character_, NA_real_, c(1.5, NaN, Inf, -Inf),
               NULL, 1:3, c(a = 1, b = 2), list(1, "a", list(TRUE)), factor(c("a", "b", NA)),
               data.frame(x = 1:2, y = c("a", "b")), as.Date("2024-01-02"), as.raw(0:255),
               complex(real = 1, imaginary = -0.1), matrix(1:6, 2), 0.1 + 0.2, -0, .Machine$double.xmax,
               "é\u00fc\n\"")
  for (v in vals) expect_identical(securer:::decode_roundtrip(v), v)
})
