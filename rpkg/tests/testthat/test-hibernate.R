# $hibernate() and $last_resumed(), against the daemon at SECURER_SOCKET
# (regress/rpkg runs this file with snapshot-size 1 MiB, its snapshots in
# the test's directory).

test_that("$hibernate() keeps x and a function; the next execution resumes", {
  skip_without_daemon()
  log <- tempfile(fileext = ".jsonl")
  s <- SecureSession$new(audit_log = log)
  on.exit(s$close())
  s$execute("x <- 42; f <- function(y) x + y; invisible(NULL)")
  expect_null(s$last_resumed())
  n <- s$hibernate()
  expect_type(n, "double")
  expect_gt(n, 0)
  expect_invisible(s$hibernate())
  expect_identical(s$hibernate(), n)
  expect_true(s$is_alive())
  priv <- s$.__enclos_env__$private
  expect_identical(.Call(securer:::C_session_state, priv$ptr), "hibernated")
  expect_no_warning(v <- s$execute("x"))
  expect_identical(v, 42)
  r <- s$last_resumed()
  expect_type(r, "list")
  expect_identical(names(r), c("ms", "bytes", "warning"))
  expect_identical(r$bytes, n)
  expect_gte(r$ms, 0)
  expect_null(r$warning)
  expect_identical(s$execute("f(1)"), 43)
  expect_null(s$last_resumed())
  events <- vapply(readLines(log), function(l) jsonlite::fromJSON(l)$event, "",
                   USE.NAMES = FALSE)
  expect_true(all(c("session_hibernate", "session_resume") %in% events))
})

test_that("the random stream goes on, the files of HOME are kept", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  o <- SecureSession$new()
  on.exit(o$close(), add = TRUE)
  s$execute(paste("set.seed(7); invisible(runif(3));",
                  "writeLines('kept', file.path(Sys.getenv('HOME'), 'k.txt'))"))
  s$hibernate()
  expect_identical(s$execute("runif(2)"),
                   o$execute("set.seed(7); invisible(runif(3)); runif(2)"))
  expect_identical(s$execute("readLines(file.path(Sys.getenv('HOME'), 'k.txt'))"),
                   "kept")
})

test_that("a file call resumes too, and says so", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  s$execute("y <- 1:10")
  s$hibernate()
  s$put_file(name = "in.txt", data = "hello")
  expect_type(s$last_resumed(), "list")
  expect_gt(s$last_resumed()$bytes, 0)
  expect_identical(s$execute("c(sum(y), nchar(readLines(file.path(Sys.getenv('SECURER_INPUT'), 'in.txt'), warn = FALSE)))"),
                   c(55L, 5L))
  expect_null(s$last_resumed())
  s$execute("writeLines('out', file.path(Sys.getenv('SECURER_OUTPUT'), 'o.txt'))")
  s$hibernate()
  s$get_file("o.txt")
  expect_type(s$last_resumed(), "list")
})

test_that("what cannot be restored is a securer_resume_warning", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  s$execute("con <- textConnection('abc'); z <- 5; invisible(NULL)")
  s$hibernate()
  expect_warning(v <- s$execute("z"), "resumed from hibernation",
                 class = "securer_resume_warning")
  expect_identical(v, 5)
  w <- s$last_resumed()$warning
  expect_type(w, "character")
  expect_match(w, "con", fixed = TRUE)
})

test_that("hibernating a busy or closed session is refused", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  f <- s$execute_async("Sys.sleep(1); 1")
  expect_error(s$hibernate(), "Cannot hibernate while an execution is in progress.",
               fixed = TRUE, class = "securer_session_busy")
  expect_identical(f$value(), 1)
  s$close()
  expect_error(s$hibernate(), "Session is not running.", fixed = TRUE,
               class = "securer_error")
})

test_that("a state over snapshot-size is securer_snapshot_too_large", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  # Over the daemon's snapshot-size (1 MiB here): the session goes on.
  s$execute("big <- runif(2e5); invisible(NULL)")
  e <- tryCatch(s$hibernate(), error = function(e) e)
  expect_s3_class(e, "securer_snapshot_too_large")
  expect_s3_class(e, "securer_error")
  expect_identical(s$execute("length(big)"), 200000L)
  expect_null(s$last_resumed())
})

test_that("verbose says it hibernated and resumed", {
  skip_without_daemon()
  suppressMessages(s <- SecureSession$new(verbose = TRUE))
  on.exit(suppressMessages(s$close()))
  m <- character(0)
  keep <- function(c) {
    m <<- c(m, conditionMessage(c))
    invokeRestart("muffleMessage")
  }
  withCallingHandlers(s$hibernate(), message = keep)
  expect_true(any(startsWith(m, "[securer] Hibernating session")))
  expect_true(any(grepl("^\\[securer\\] Session hibernated \\([0-9]+ bytes\\)", m)))
  m <- character(0)
  withCallingHandlers(s$execute("1"), message = keep)
  expect_true(any(grepl("^\\[securer\\] Session resumed \\([0-9]+ bytes, [0-9]+ ms\\)", m)))
})
