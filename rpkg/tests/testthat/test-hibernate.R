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

# $fork(): a new session whose state is a copy of its source's, on the
# source's connection.

# The daemon's view of a session: "idle", "hibernated", ...; its id.
daemon_state <- function(s)
  .Call(securer:::C_session_state, s$.__enclos_env__$private$ptr)
daemon_id <- function(s)
  securer:::R_extptr_prot(s$.__enclos_env__$private$ptr)[1]

# The unix sockets this process holds: one a connection to the daemon.
sockets <- function() {
  fds <- list.files("/proc/self/fd", full.names = TRUE)
  sum(startsWith(vapply(fds, Sys.readlink, ""), "socket:"))
}

test_that("$fork() copies the state, and the two go their own ways", {
  skip_without_daemon()
  a <- SecureSession$new()
  on.exit(a$close())
  a$execute("x <- 1")
  b <- a$fork()
  on.exit(b$close(), add = TRUE)
  expect_s3_class(b, "SecureSession")
  expect_false(identical(daemon_id(b), daemon_id(a)))
  expect_identical(daemon_state(b), "hibernated")
  expect_identical(daemon_state(a), "idle")
  expect_identical(b$execute("x <- x + 10; x"), 11)
  r <- b$last_resumed()
  expect_type(r, "list")
  expect_gt(r$bytes, 0)
  expect_null(r$warning)
  expect_identical(a$execute("x"), 1)
  expect_null(a$last_resumed())
  a$execute("x <- 5")
  expect_identical(b$execute("x"), 11)
  expect_null(b$last_resumed())
  expect_identical(a$execute("x"), 5)
})

test_that("functions and the random stream go on in the fork as in the source", {
  skip_without_daemon()
  a <- SecureSession$new()
  on.exit(a$close())
  a$execute(paste("set.seed(42); invisible(runif(2)); k <- 3;",
                  "f <- function(n) round(runif(n) * k, 6)"))
  b <- a$fork()
  on.exit(b$close(), add = TRUE)
  vb <- b$execute("f(4)")
  expect_length(vb, 4L)
  expect_identical(vb, a$execute("f(4)"))
  expect_identical(b$execute("runif(2)"), a$execute("runif(2)"))
})

test_that("a hibernated session forks, and both wake with its state", {
  skip_without_daemon()
  a <- SecureSession$new()
  on.exit(a$close())
  a$execute("y <- 'asleep'; writeLines('home', file.path(Sys.getenv('HOME'), 'h.txt'))")
  n <- a$hibernate()
  b <- a$fork()
  on.exit(b$close(), add = TRUE)
  expect_identical(daemon_state(a), "hibernated")
  expect_identical(daemon_state(b), "hibernated")
  expect_identical(b$execute("c(y, readLines(file.path(Sys.getenv('HOME'), 'h.txt')))"),
                   c("asleep", "home"))
  expect_gt(b$last_resumed()$bytes, 0)
  expect_identical(a$execute("y"), "asleep")
  expect_identical(a$last_resumed()$bytes, n)
  # A fork of a fork.
  b$execute("y <- 'b'")
  c3 <- b$fork()
  on.exit(c3$close(), add = TRUE)
  expect_identical(c3$execute("y"), "b")
  expect_type(c3$last_resumed(), "list")
})

test_that("the fork has the tools, settings and audit log of its source", {
  skip_without_daemon()
  calls <- 0
  add <- securer_tool("add", "Add two numbers", function(a, b) {
    calls <<- calls + 1
    a + b
  }, list(a = "numeric", b = "numeric"))
  log <- tempfile(fileext = ".jsonl")
  a <- SecureSession$new(tools = list(add), audit_log = log,
                         max_executions = 3)
  on.exit(a$close())
  a$execute("z <- add(1, 2)")
  b <- a$fork()
  on.exit(b$close(), add = TRUE)
  expect_identical(b$tools(), a$tools())
  expect_identical(b$execute("add(z, 10)"), 13)
  expect_identical(calls, 2)
  b$execute("1")
  b$execute("2")
  expect_error(b$execute("3"), "Maximum executions (3) reached", fixed = TRUE)
  expect_identical(a$execute("add(z, 1)"), 4)
  entries <- lapply(readLines(log), jsonlite::fromJSON)
  fork <- Filter(function(e) identical(e$event, "session_fork"), entries)
  expect_length(fork, 1L)
  expect_gt(fork[[1]]$bytes, 0)
  start <- Filter(function(e) identical(e$event, "session_start") &&
                    identical(e$session_id, fork[[1]]$fork_id), entries)
  expect_length(start, 1L)
  expect_identical(start[[1]]$forked_from, fork[[1]]$session_id)
  expect_true(any(vapply(entries, function(e)
    identical(e$event, "tool_call") && identical(e$session_id, fork[[1]]$fork_id),
    TRUE)))
})

test_that("either may be closed first; the connection goes with the last", {
  skip_without_daemon()
  skip_if_not(dir.exists("/proc/self/fd"))
  n0 <- sockets()
  a <- SecureSession$new()
  a$execute("x <- 'a'")
  b <- a$fork()
  expect_identical(sockets(), n0 + 1L)
  a$close()
  expect_false(a$is_alive())
  expect_true(b$is_alive())
  expect_identical(b$execute("x"), "a")
  expect_error(a$fork(), "Session is not running.", fixed = TRUE)
  expect_identical(sockets(), n0 + 1L)
  c3 <- b$fork()
  b$close()
  expect_identical(c3$execute("x"), "a")
  c3$close()
  expect_false(c3$is_alive())
  expect_identical(sockets(), n0)

  # The source closed while the fork had not yet woken; a fork dropped
  # unclosed is closed by the collector without troubling the source.
  a <- SecureSession$new()
  a$execute("x <- 'again'")
  b <- a$fork()
  a$close()
  expect_identical(b$execute("x"), "again")
  local(b$fork())
  gc()
  expect_identical(b$execute("x"), "again")
  b$close()
  expect_identical(sockets(), n0)
})

test_that("a fork while an execution runs is refused, and waits its turn", {
  skip_without_daemon()
  a <- SecureSession$new()
  on.exit(a$close())
  a$execute("x <- 1")
  f <- a$execute_async("Sys.sleep(1); x + 1")
  expect_error(a$fork(), "Cannot fork while an execution is in progress.",
               fixed = TRUE, class = "securer_session_busy")
  expect_identical(f$value(), 2)
  b <- a$fork()
  on.exit(b$close(), add = TRUE)
  # The connection is one: the fork waits for its source's execution.
  f <- a$execute_async("Sys.sleep(1); x <- 3; x")
  expect_error(b$execute("x"), "Another session on this connection",
               fixed = TRUE, class = "securer_session_busy")
  expect_error(b$execute_async("x"), class = "securer_session_busy")
  expect_error(b$fork(), class = "securer_session_busy")
  expect_error(b$put_file(name = "a.txt", data = "a"),
               class = "securer_session_busy")
  expect_true(b$is_alive())
  expect_identical(f$value(), 3)
  expect_identical(b$execute("x"), 1)
  expect_identical(a$execute("x"), 3)
})

test_that("a session closed while it runs lets its fork go on", {
  skip_without_daemon()
  a <- SecureSession$new()
  a$execute("x <- 'kept'")
  b <- a$fork()
  on.exit(b$close())
  f <- a$execute_async("Sys.sleep(1); 'never seen'")
  a$close()
  # b's next call waits for a's execution to end, then goes.
  t0 <- Sys.time()
  expect_identical(b$execute("x"), "kept")
  expect_gt(as.numeric(difftime(Sys.time(), t0, units = "secs")), 0.5)
  expect_identical(b$execute("x"), "kept")
  # The fork closed while its source runs: its close waits its turn.
  c3 <- b$fork()
  f <- c3$execute_async("Sys.sleep(0.5); x")
  b$close()
  expect_identical(f$value(), "kept")
  expect_identical(c3$execute("paste(x, 'still')"), "kept still")
  c3$close()
})

test_that("a state over snapshot-size is not forked; the session goes on", {
  skip_without_daemon()
  log <- tempfile(fileext = ".jsonl")
  s <- SecureSession$new(audit_log = log)
  on.exit(s$close())
  s$execute("big <- runif(2e5); invisible(NULL)")
  e <- tryCatch(s$fork(), error = function(e) e)
  expect_s3_class(e, "securer_snapshot_too_large")
  expect_s3_class(e, "securer_error")
  expect_identical(s$execute("length(big)"), 200000L)
  ev <- Filter(function(e) identical(e$event, "session_fork"),
               lapply(readLines(log), jsonlite::fromJSON))
  expect_length(ev, 1L)
  expect_type(ev[[1]]$error, "character")
})

test_that("verbose says it forked", {
  skip_without_daemon()
  suppressMessages(s <- SecureSession$new(verbose = TRUE))
  on.exit(suppressMessages(s$close()))
  m <- character(0)
  keep <- function(c) {
    m <<- c(m, conditionMessage(c))
    invokeRestart("muffleMessage")
  }
  withCallingHandlers(f <- s$fork(), message = keep)
  on.exit(suppressMessages(f$close()), add = TRUE)
  expect_true(any(startsWith(m, "[securer] Forking session")))
  expect_true(any(grepl("^\\[securer\\] Session forked \\([0-9]+ bytes, session=[0-9a-f]+\\)", m)))
  m <- character(0)
  withCallingHandlers(f$execute("1"), message = keep)
  expect_true(any(grepl("^\\[securer\\] Session resumed", m)))
})
