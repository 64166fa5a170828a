# Big data, output, validation: linear and within bounds.

test_that("validate_code is linear and flags what it should", {
  code <- paste0("c(", paste(seq_len(50000), collapse = ","), ")")
  t <- system.time(v <- validate_code(code))[["elapsed"]]
  expect_true(v$valid)
  expect_lt(t, 0.5)
  flagged <- function(code) sub("^Code contains call to `(.*)\\(\\)`.*", "\\1",
                                validate_code(code)$warnings)
  expect_identical(flagged("`system`('ls')"), "system")
  expect_identical(flagged("get('system')('ls')"), "system")
  expect_identical(flagged("match.fun(\"system2\")('ls')"), "system2")
  expect_identical(flagged("do.call('system', list('ls'))"), c("system", "do.call"))
  expect_identical(flagged("getExportedValue('base', 'system')('id')"), "system")
  expect_identical(flagged("base::system('id')"), "system")
  expect_identical(flagged("download.file('http://x', 'y')"), "download.file")
  expect_identical(flagged("con <- file('/etc/passwd'); readLines(url('http://x'))"), c("url", "file"))
  expect_identical(flagged("f <- system; f('id')"), "system")
  expect_identical(flagged("eval(parse(text = 'system(\"id\")'))"), "system")
  expect_identical(flagged("url <- 'http://x'; file <- 1"), character(0))
  expect_identical(flagged("x <- 'system(1)'"), character(0))
  expect_error(validate_code(NA_character_), "not NA", class = "securer_error")
  expect_error(validate_code(c("a", "b")), "single character string", class = "securer_error")
})

test_that("the default check costs nothing; advisories come with the result", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  expect_equal(s$execute("1+1"), 2)
  expect_identical(s$last_advisories(), character(0))
  expect_equal(s$execute("f <- system; 2"), 2)
  expect_identical(s$last_advisories(),
                   "Code contains call to `system()` which may be restricted by the sandbox")
  expect_error(s$execute("1 +"), "Code has a syntax error and was not executed", fixed = TRUE,
               class = "securer_syntax_error")
})

test_that("big values cross the daemon in a frame, exactly", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  # The daemon of this test raises result-size (t_rpkg.sh).
  s$execute("set.seed(7); x7 <- rnorm(1e7); NULL")
  t <- system.time(y <- s$execute("x7", timeout = 120))[["elapsed"]]
  expect_identical(y, {set.seed(7); rnorm(1e7)})
  expect_lt(t, 10)
  expect_identical(s$execute("list(a = c(TRUE, NA, FALSE)[rep(1:3, 10)], r = as.raw(0:255), i = c(NA, 1:99))"),
                   list(a = c(TRUE, NA, FALSE)[rep(1:3, 10)], r = as.raw(0:255), i = c(NA, 1:99)))
})

test_that("a million lines stream to R", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  t <- system.time(r <- s$execute("writeLines(paste('line', 1:1e6)); 1", timeout = 60))[["elapsed"]]
  out <- attr(r, "output")
  expect_length(out, 1e6)
  expect_identical(out[c(1, 1e6)], c("line 1", "line 1000000"))
  expect_lt(t, 5)
  seen <- 0L
  s$execute("for (i in 1:20000) cat('line', i, '\\n')", timeout = 60,
            output_handler = function(l) seen <<- seen + 1L)
  expect_identical(seen, 20000L)
  expect_identical(s$last_output()[20000], "line 20000 ")
})

test_that("a slow output handler holds the code back, and loses nothing", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  # The handler sleeps 0.15 s every 20,000 of 4e5 lines (4 MB): the
  # client falls behind by more than the daemon buffers for it, for
  # longer than its client-grace (2 s in t_rpkg), and the worker waits
  # for it rather than the client being dropped.
  seen <- 0L
  slept <- 0
  r <- s$execute("writeLines(sprintf('%07d x', 1:4e5)); 1", timeout = 120,
                 output_handler = function(l) {
                   seen <<- seen + 1L
                   if (seen %% 20000L == 0L) {
                     Sys.sleep(0.15)
                     slept <<- slept + 0.15
                   }
                 })
  out <- attr(r, "output")
  expect_equal(as.vector(r), 1)
  expect_length(out, 4e5)
  expect_identical(seen, 400000L)
  expect_identical(out, sprintf("%07d x", 1:4e5))
  expect_gt(slept, 2.5)
})

test_that("an output_handler that fails leaves nothing half read", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  # Its errors are ignored line by line: the rest is still read, the
  # value comes, and the connection is in step for the next execution.
  calls <- 0L
  r <- s$execute("writeLines(sprintf('%06d', 1:1e5)); 7", timeout = 60,
                 output_handler = function(l) {
                   calls <<- calls + 1L
                   stop("handler failed")
                 })
  expect_equal(as.vector(r), 7)
  expect_identical(calls, 100000L)
  expect_identical(attr(r, "output"), sprintf("%06d", 1:1e5))
  expect_equal(s$execute("1 + 1"), 2)
})

test_that("a client that stops reading is dropped, and told why", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  # The handler stops reading for 4 s, longer than client-grace (2 s in
  # t_rpkg), while the code writes on: the daemon drops the client and
  # says so.
  seen <- 0L
  err <- tryCatch(s$execute("repeat writeLines(strrep('x', 100))", timeout = 60,
                            output_handler = function(l) {
                              seen <<- seen + 1L
                              if (seen == 1000L) Sys.sleep(4)
                            }),
                  error = identity)
  expect_s3_class(err, "securer_slow_client")
  expect_s3_class(err, "securer_error")
  expect_match(conditionMessage(err), "did not read its output in time", fixed = TRUE)
  expect_match(conditionMessage(err), "state is lost", fixed = TRUE)
  expect_false(s$is_alive())
})

test_that("output streams while the code runs", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  at <- numeric(0)
  t0 <- Sys.time()
  s$execute("cat('a\\n'); cat('b\\n'); Sys.sleep(1); cat('c\\n')", output_handler = function(l)
    at <<- c(at, as.numeric(difftime(Sys.time(), t0, units = "secs"))))
  expect_length(at, 3L)
  expect_lt(at[2], 0.6)
  expect_gt(at[3], 0.9)
})

test_that("messages, warnings, classes and CPUs are as in R", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  s$execute("warning('a warn'); 1")
  expect_identical(s$last_output(), c("Warning message:", "a warn"))
  e <- tryCatch(s$execute("stop(structure(class = c('my_error', 'error', 'condition'), list(message = 'mine', call = NULL)))"),
                error = function(e) e)
  expect_s3_class(e, "my_error")
  expect_s3_class(e, "securer_r_error")
  expect_identical(conditionMessage(e), "mine")
  n <- s$execute("parallel::detectCores()")
  expect_true(is.numeric(n) && !is.na(n) && n >= 1)
  expect_error(s$execute("system('ls /', intern = TRUE)"), "running programs is not allowed")
})
