# Plots drawn in the sandbox and files handed in and out.

png_magic <- as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))

test_that("plots come back as attr(value, 'plots'), saved and printed", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  v <- s$execute("plot(1:10); grid::grid.newpage(); grid::grid.text('g'); 42")
  expect_identical(as.numeric(v), 42)
  p <- attr(v, "plots")
  expect_s3_class(p, "securer_plots")
  expect_identical(names(p), c("plot-001.png", "plot-002.png"))
  expect_s3_class(p[[1]], "securer_plot")
  expect_identical(unclass(p[[1]])[1:8], png_magic)
  expect_identical(s$last_plots(), p)
  expect_output(print(p), "2 plots")
  expect_output(print(p[[1]]), "PNG 672x672")
  dir <- tempfile("plots")
  paths <- securer_save_plots(v, dir)
  expect_identical(basename(paths), names(p))
  expect_identical(readBin(paths[2], "raw", 1e6), unclass(p[[2]]))
  expect_identical(basename(securer_save_plots(p[2], dir, prefix = "b-")),
                   "b-plot-002.png")
  # Nothing drawn: no attribute, no plots.
  expect_null(attr(s$execute("1"), "plots"))
  expect_null(s$last_plots())
  expect_identical(securer_save_plots(1), character(0))
})

test_that("a NULL value or an error keeps its plots in $last_plots()", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  expect_null(s$execute("plot(1); NULL"))
  expect_length(s$last_plots(), 1L)
  expect_error(s$execute("barplot(1:3); stop('late')"), "late",
               class = "securer_r_error")
  expect_identical(names(s$last_plots()), "plot-001.png")
  expect_identical(unclass(s$last_plots()[[1]])[1:8], png_magic)
})

test_that("plot() shows a plot where it can, else says how to save it", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  p <- attr(s$execute("plot(1); 1"), "plots")[[1]]
  if (requireNamespace("png", quietly = TRUE)) {
    f <- tempfile(fileext = ".pdf")
    grDevices::pdf(f)
    expect_invisible(plot(p))
    grDevices::dev.off()
    expect_gt(file.size(f), 0)
  } else if (!interactive()) {
    expect_error(plot(p), "securer_save_plots")
  }
})

test_that("files go in read-only and come out by name", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  f <- tempfile(fileext = ".csv")
  write.csv(data.frame(a = 1:3), f, row.names = FALSE)
  s$put_file(f, name = "in.csv")
  s$put_file(data = "hello\n", name = "note.txt")
  expect_identical(s$execute(paste(
    "d <- read.csv(file.path(Sys.getenv('SECURER_INPUT'), 'in.csv'))",
    "writeLines(as.character(sum(d$a)), file.path(Sys.getenv('SECURER_OUTPUT'), 'sum.txt'))",
    "readLines(file.path(Sys.getenv('SECURER_INPUT'), 'note.txt'))",
    sep = "\n")), "hello")
  expect_identical(s$execute(
    "file.access(file.path(Sys.getenv('SECURER_INPUT'), 'in.csv'), 2)"),
    c(`/tmp/home/input/in.csv` = -1L))
  expect_identical(rawToChar(s$get_file("sum.txt")), "6\n")
  out <- tempfile()
  expect_identical(s$get_file("sum.txt", out), out)
  expect_identical(readLines(out), "6")
  expect_error(s$get_file("../etc/passwd"), class = "securer_bad_file_name")
  expect_error(s$get_file("missing"), class = "securer_file_not_found")
  s$execute("file.symlink('/etc/passwd', file.path(Sys.getenv('SECURER_OUTPUT'), 'p'))")
  expect_error(s$get_file("p"), class = "securer_not_a_regular_file")
  expect_error(s$put_file(data = 1:3, name = "x"), "raw vector")
  expect_identical(s$execute("1 + 1"), 2)
})
