# Files in chunks of 1 MiB.  The daemon of this test raises file-size to
# 24 MiB (t_rpkg.sh): a 20 MB file fits, 25 MB does not.
mib <- 1048576
file_size <- 24 * mib

# The code copies an input to its output (alone there: the worker's disk
# is small) and says the copy's size.
copy_code <- function(name) sprintf(paste(
  "o <- Sys.getenv('SECURER_OUTPUT'); unlink(list.files(o, full.names = TRUE));",
  "file.copy(file.path(Sys.getenv('SECURER_INPUT'), '%s'), o);",
  "file.size(file.path(o, '%s'))"), name, name)

random_bytes <- function(n) as.raw(sample.int(256L, n, replace = TRUE) - 1L)

test_that("a 20 MB file goes in and comes back identical", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  f <- tempfile()
  bytes <- random_bytes(20e6)
  writeBin(bytes, f)
  expect_invisible(s$put_file(f, name = "big.bin"))
  expect_identical(s$execute(copy_code("big.bin")), 20e6)
  d <- tempfile("get")
  dir.create(d)
  out <- file.path(d, "back.bin")
  expect_identical(s$get_file("big.bin", out), out)
  expect_identical(unname(tools::md5sum(out)), unname(tools::md5sum(f)))
  # Nothing of the get is left beside it.
  expect_identical(list.files(d, all.files = TRUE, no.. = TRUE), "back.bin")
  expect_identical(s$get_file("big.bin"), bytes)
  # From data as well.
  s$put_file(data = bytes, name = "data.bin")
  expect_identical(s$execute(copy_code("data.bin")), 20e6)
  expect_identical(s$get_file("data.bin"), bytes)
})

test_that("files at the chunk's bounds and an empty one cross exactly", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  for (n in c(0, 1, mib - 1, mib, mib + 1, 2 * mib, 3 * mib + 5)) {
    bytes <- random_bytes(n)
    f <- tempfile()
    writeBin(bytes, f)
    s$put_file(f, name = "f.bin")
    expect_identical(s$execute(copy_code("f.bin")), n, info = n)
    expect_identical(s$get_file("f.bin"), bytes, info = n)
    out <- tempfile()
    s$get_file("f.bin", out)
    expect_identical(file.size(out), n, info = n)
    expect_identical(readBin(out, "raw", n + 1), bytes, info = n)
    s$put_file(data = bytes, name = "d.bin")
    expect_identical(s$execute(copy_code("d.bin")), n, info = n)
    expect_identical(s$get_file("d.bin"), bytes, info = n)
  }
})

test_that("over file-size is securer_file_too_large and the session goes on", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  f <- tempfile()
  writeBin(raw(file_size + 1), f)
  e <- expect_error(s$put_file(f, name = "huge.bin"),
                    class = "securer_file_too_large")
  expect_s3_class(e, "securer_error")
  expect_error(s$put_file(data = raw(file_size + 1), name = "huge.bin"),
               class = "securer_file_too_large")
  # The code never sees a part of it.
  expect_false(s$execute(
    "file.exists(file.path(Sys.getenv('SECURER_INPUT'), 'huge.bin'))"))
  expect_identical(s$execute("1 + 1"), 2)
  s$put_file(data = "ok", name = "small")
  expect_identical(s$execute(
    "readLines(file.path(Sys.getenv('SECURER_INPUT'), 'small'), warn = FALSE)"),
    "ok")
  # A file the code wrote past file-size cannot be got; the get leaves
  # nothing at its path.
  s$execute(sprintf(
    "writeBin(raw(%d), file.path(Sys.getenv('SECURER_OUTPUT'), 'out.bin'))",
    file_size + 1))
  d <- tempfile("get")
  dir.create(d)
  expect_error(s$get_file("out.bin", file.path(d, "out.bin")),
               class = "securer_file_too_large")
  expect_identical(list.files(d, all.files = TRUE, no.. = TRUE), character(0))
  expect_identical(s$execute("2 + 2"), 4)
})

test_that("a chunk out of place is securer_bad_offset, a range too long securer_chunk_too_large", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  priv <- s$.__enclos_env__$private
  expect_error(priv$file_call(function()
    .Call(securer:::C_file_put_chunk, priv$ptr, "x", as.raw(1:3), 0, 3, 5, FALSE)),
    class = "securer_bad_offset")
  s$put_file(data = as.raw(1:3), name = "x")
  s$execute(copy_code("x"))
  expect_error(priv$file_call(function()
    .Call(securer:::C_file_get_range, priv$ptr, "x", 4, 1)),
    class = "securer_bad_offset")
  expect_identical(priv$file_call(function()
    .Call(securer:::C_file_get_range, priv$ptr, "x", 3, 1)),
    list(data = raw(0), size = 3))
  expect_error(priv$file_call(function()
    .Call(securer:::C_file_get_range, priv$ptr, "x", 0, 4 * mib + 1)),
    class = "securer_chunk_too_large")
  expect_identical(s$get_file("x"), as.raw(1:3))
})

test_that("memory_busy is tried again a few times before it is raised", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  priv <- s$.__enclos_env__$private
  busy <- list(error = list(code = "memory_busy", message = "busy"))
  calls <- 0L
  r <- priv$file_call(function() {
    calls <<- calls + 1L
    if (calls <= 2L) busy else 7
  })
  expect_identical(r, 7)
  expect_identical(calls, 3L)
  calls <- 0L
  t0 <- Sys.time()
  expect_error(priv$file_call(function() {
    calls <<- calls + 1L
    busy
  }), class = "securer_memory_busy")
  expect_identical(calls, securer:::file_busy_tries)
  # 50 + 100 + 200 + 400 ms of pauses.
  expect_gte(as.numeric(Sys.time() - t0, units = "secs"), 0.7)
})
