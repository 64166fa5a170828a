# Values that are not plain data: models, language, stand-ins, what
# cannot cross, and what a hostile value can make the client do.

# A value as the worker would send it, decoded here as the package does.
dec <- function(json) securer:::.revive(.Call(securer:::C_decode, json))

test_that("models work in the client as on the original", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  m <- s$execute("lm(mpg ~ wt, mtcars)")
  l <- lm(mpg ~ wt, mtcars)
  expect_s3_class(m, "lm")
  expect_equal(coef(m), coef(l))
  expect_equal(summary(m)$coefficients, summary(l)$coefficients)
  expect_equal(summary(m)$r.squared, summary(l)$r.squared)
  expect_equal(predict(m, data.frame(wt = 3)), predict(l, data.frame(wt = 3)))
  expect_equal(anova(m), anova(l))
  expect_identical(capture.output(print(m)), capture.output(print(l)))
  expect_identical(deparse(formula(m)), deparse(formula(l)))
  # A polynomial's coefficients cross exactly (17 digits).
  p <- s$execute("lm(mpg ~ poly(wt, 2) + factor(cyl), mtcars)")
  pl <- lm(mpg ~ poly(wt, 2) + factor(cyl), mtcars)
  nd <- data.frame(wt = c(2.5, 3.5), cyl = c(4, 8))
  expect_equal(predict(p, nd), predict(pl, nd), tolerance = 1e-12)

  g <- s$execute("glm(am ~ wt, binomial, mtcars)")
  gl <- glm(am ~ wt, binomial, mtcars)
  expect_equal(coef(g), coef(gl))
  expect_equal(summary(g)$coefficients, summary(gl)$coefficients)
  expect_equal(predict(g, data.frame(wt = 3), type = "response"),
               predict(gl, data.frame(wt = 3), type = "response"))
  expect_equal(anova(g), anova(gl))
  expect_identical(capture.output(print(g)), capture.output(print(gl)))
  # The family is the client's own, rebuilt by name.
  expect_identical(deparse(g$family$linkinv), deparse(binomial()$linkinv))

  tt <- s$execute("t.test(mpg ~ am, data = mtcars)")
  expect_equal(unclass(tt), unclass(t.test(mpg ~ am, data = mtcars)))
  expect_identical(capture.output(print(tt)),
                   capture.output(print(t.test(mpg ~ am, data = mtcars))))
})

test_that("a data.table and a tibble come back as themselves", {
  skip_without_daemon()
  skip_if_not_installed("data.table")
  skip_if_not_installed("tibble")
  s <- SecureSession$new()
  on.exit(s$close())
  dt <- s$execute("data.table::data.table(a = 1:3, b = c('x', 'y', NA))")
  expect_s3_class(dt, "data.table")
  expect_equal(dt, data.table::data.table(a = 1:3, b = c("x", "y", NA)))
  # Its self-reference is the client's: := works in place, no warning.
  expect_silent(data.table::set(dt, j = "c", value = dt$a * 2L))
  expect_identical(dt$c, c(2L, 4L, 6L))
  tb <- s$execute("tibble::tibble(a = 1:3, b = letters[1:3])")
  expect_s3_class(tb, "tbl_df")
  expect_identical(tb, tibble::tibble(a = 1:3, b = letters[1:3]))
  expect_match(capture.output(print(tb))[1], "A tibble: 3 x 2|A tibble: 3 \u00d7 2")
})

test_that("language crosses as language, references as stand-ins", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  expect_identical(s$execute("quote(x + 1)"), quote(x + 1))
  expect_identical(s$execute("as.name('foo')"), as.name("foo"))
  expect_identical(s$execute("quote(f(a = 1L, `b c`, NULL))"), quote(f(a = 1L, `b c`, NULL)))
  f <- s$execute("y ~ x + log(z)")
  expect_s3_class(f, "formula")
  expect_identical(deparse(f), "y ~ x + log(z)")
  expect_identical(f[[3]], quote(x + log(z)))
  e <- environment(f)
  expect_true(is.environment(e))
  expect_identical(ls(e, all.names = TRUE), character(0))
  expect_identical(attr(e, "securer_environment"), "R_GlobalEnv")
  expect_identical(attr(s$execute("baseenv()"), "securer_environment"), "base")
  fn <- s$execute("structure(function(x, y = 2) x + y, class = 'myfun')")
  expect_s3_class(fn, "securer_function")
  expect_identical(attr(fn, "securer_class"), "myfun")
  expect_false(is.function(fn))
  expect_match(unclass(fn), "function (x, y = 2)", fixed = TRUE)
  expect_error(fn(1))
  expect_s3_class(s$execute("sum"), "securer_function")
  r <- s$execute("list(p = getNativeSymbolInfo('securer_result', '(embedding)')$address)")
  expect_s3_class(r$p, "securer_reference")
  expect_identical(unclass(r$p)[1], "externalptr")
  expect_identical(s$execute("as.pairlist(list(a = 1, b = 'x'))"), as.pairlist(list(a = 1, b = "x")))
  s4 <- s$execute("setClass('Pt', representation(x = 'numeric', y = 'character')); new('Pt', x = 1:2 + 0.5, y = 'a')")
  expect_s3_class(s4, "securer_s4")
  expect_false(isS4(s4))
  expect_identical(s4$x, c(1.5, 2.5))
  expect_identical(s4$y, "a")
  expect_identical(as.character(attr(s4, "securer_class")), "Pt")
  s4d <- s$execute("setClass('Num', contains = 'numeric'); new('Num', c(1, 2))")
  expect_identical(s4d$.Data, c(1, 2))
  expect_match(capture.output(print(s4))[1], "securer_s4 of class Pt")
})

test_that("what cannot cross is securer_unsupported, with its path, output and plots kept", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  u <- s$execute("cat('before\\n'); plot(1:3); list(a = 1, b = list(c = compiler::compile(quote(x))))")
  expect_s3_class(u, "securer_unsupported")
  expect_identical(unclass(u)$path, "$b$c")
  expect_identical(unclass(u)$rtype, "bytecode")
  expect_match(unclass(u)$printed, "$b$c", fixed = TRUE)
  expect_identical(s$last_output(), "before")
  expect_length(s$last_plots(), 1L)
  expect_match(format(u), "its part $b$c, bytecode cannot cross", fixed = TRUE)
  u <- s$execute("structure(1, code = compiler::compile(quote(x)))")
  expect_identical(unclass(u)$path, " attr(\"code\")")
  # An object with behaviour (an environment with a class) goes whole.
  u <- s$execute("e <- new.env(); class(e) <- 'obj'; list(x = 1, o = e)")
  expect_identical(unclass(u)$path, "$o")
  expect_identical(unclass(u)$rtype, "environment with a class")
  # Nesting past the codec's depth.
  u <- s$execute("x <- 1; for (i in 1:250) x <- list(x); x")
  expect_s3_class(u, "securer_unsupported")
  expect_identical(unclass(u)$rtype, "nesting")
})

test_that("a visible ggplot is drawn in the worker and its PNG comes back", {
  skip_without_daemon()
  skip_if_not_installed("ggplot2")
  s <- SecureSession$new()
  on.exit(s$close())
  p <- s$execute("library(ggplot2); ggplot(mtcars, aes(wt, mpg)) + geom_point()")
  expect_s3_class(p, "securer_unsupported")
  expect_identical(attr(p, "securer_class"), c("gg", "ggplot"))
  pl <- s$last_plots()
  expect_length(pl, 1L)
  expect_identical(unclass(pl[[1]])[1:8], as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
  expect_identical(attr(p, "plots"), pl)
  # Assigned, it is not shown: no page is drawn for its printed form.
  s$execute("q <- ggplot(mtcars, aes(wt, mpg)) + geom_point()")
  expect_null(s$last_plots())
  v <- s$execute("invisible(list(q))")
  expect_s3_class(v, "securer_unsupported")
  expect_null(s$last_plots())
  # Shown inside a list, it is drawn, as at R's top level.
  s$execute("list(q)")
  expect_length(s$last_plots(), 1L)
})

test_that("strings not valid in their encoding come back as flagged bytes", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  x <- s$execute("c('\\xff\\xfe', 'a', '\u00e9')")
  expect_identical(Encoding(x), c("bytes", "unknown", "UTF-8"))
  expect_identical(charToRaw(x[1]), as.raw(c(0xff, 0xfe)))
  expect_identical(x[2:3], c("a", "\u00e9"))
  b <- s$execute("x <- 'ok\\xe9'; Encoding(x) <- 'bytes'; x")
  expect_identical(charToRaw(b), charToRaw("ok\xe9"))
  expect_identical(Encoding(b), "bytes")
})

test_that("vectors round-trip in binary form, bit for bit", {
  x <- list(d = c(NA, NaN, Inf, -Inf, -0, 0, 1/3, .Machine$double.xmin, 1e308, rep(2.5, 10)),
            i = c(NA, -.Machine$integer.max, .Machine$integer.max, 0L, 1:20),
            l = c(NA, TRUE, FALSE, rep(TRUE, 20)),
            z = complex(real = c(NA, 1:20, NaN), imaginary = c(0, -(1:20), Inf)),
            r = as.raw(0:255), e = double(0), df = data.frame(a = 1:30, b = seq(0.5, 15, 0.5)))
  for (b in c(FALSE, TRUE)) {
    y <- securer:::decode_roundtrip(x, binary = b)
    expect_identical(y, x)
    expect_identical(sign(1 / y$d[5]), -1)
    expect_true(is.na(y$d[1]) && !is.nan(y$d[1]))
    expect_true(is.nan(y$d[2]))
  }
  j <- .Call(securer:::C_encode, 1:100, TRUE)
  expect_match(j, "\"bin\":\"", fixed = TRUE)
  expect_no_match(.Call(securer:::C_encode, 1:15, TRUE), "bin", fixed = TRUE)
  # ALTREP sequences are read by region, not expanded.
  expect_identical(securer:::decode_roundtrip(1:1e6, TRUE), 1:1e6)
  # Bad binary forms are refused.
  expect_error(dec('{"type":"double","bin":"AAAA"}'), "bin")
  expect_error(dec('{"type":"logical","bin":"AgAAAA=="}'), "not valid")
  expect_error(dec('{"type":"double","bin":"AAAAAAAAAAA=","value":[1]}'), "both")
  expect_error(dec('{"type":"character","bin":"AAAA"}'), "cannot be binary")
  expect_identical(dec('{"type":"integer","bin":""}'), integer(0))
  expect_identical(dec('{"type":"integer","bin":"AQAAAAAAAIA="}'), c(1L, NA))
})

test_that("vectors round-trip through a frame, bit for bit", {
  x <- list(d = c(NA, NaN, Inf, -Inf, -0, 0, 1/3, .Machine$double.xmin, 1e308, rep(2.5, 10)),
            i = c(NA, -.Machine$integer.max, .Machine$integer.max, 0L, 1:20),
            l = c(NA, TRUE, FALSE, rep(TRUE, 20)),
            z = complex(real = c(NA, 1:20, NaN), imaginary = c(0, -(1:20), Inf)),
            r = as.raw(0:255), r3 = as.raw(1:3), e = double(0),
            df = data.frame(a = 1:30, b = seq(0.5, 15, 0.5)))
  y <- securer:::frame_roundtrip(x)
  expect_identical(y, x)
  expect_identical(sign(1 / y$d[5]), -1)
  expect_true(is.na(y$d[1]) && !is.nan(y$d[1]))
  expect_true(is.nan(y$d[2]))
  e <- .Call(securer:::C_encode_frame, list(as.raw(1:17), 1:16))
  expect_match(e[[1]], "\"bin_at\":[0,17]", fixed = TRUE)
  # Each vector starts 8-aligned; the gap is zero.
  expect_match(e[[1]], "\"bin_at\":[24,64]", fixed = TRUE)
  expect_identical(e[[2]][18:24], as.raw(rep(0, 7)))
  expect_length(e[[2]], 88)
  # Short vectors stay JSON; ALTREP sequences are read by region.
  expect_no_match(.Call(securer:::C_encode_frame, 1:15)[[1]], "bin", fixed = TRUE)
  expect_identical(securer:::frame_roundtrip(1:1e6), 1:1e6)
  # What points outside the frame, or at part of an element, is refused.
  fr <- as.raw(c(1, 0, 0, 0, 2, 0, 0, 0))
  fdec <- function(j, f = fr) .Call(securer:::C_decode_frame, j, f)
  expect_identical(fdec('{"type":"integer","bin_at":[0,8]}'), 1:2)
  expect_identical(fdec('{"type":"raw","bin_at":[4,4]}'), as.raw(c(2, 0, 0, 0)))
  expect_error(fdec('{"type":"integer","bin_at":[4,8]}'), "past the frame")
  expect_error(fdec('{"type":"integer","bin_at":[0,9]}'), "past the frame")
  expect_error(fdec('{"type":"double","bin_at":[0,4]}'), "whole elements")
  expect_error(fdec('{"type":"integer","bin_at":[-1,4]}'), "offset, bytes")
  expect_error(fdec('{"type":"integer","bin_at":[0.5,4]}'), "offset, bytes")
  expect_error(fdec('{"type":"integer","bin_at":[0]}'), "offset, bytes")
  expect_error(fdec('{"type":"integer","bin_at":[0,4],"value":[1]}'), "both")
  expect_error(fdec('{"type":"character","bin_at":[0,4]}'), "cannot be binary")
  expect_error(fdec('{"type":"logical","bin_at":[4,4]}'), "not valid")
  expect_error(fdec('{"type":"integer","bin_at":[0,4]}', raw(0)), "past the frame")
})

test_that("binary values cross the daemon exactly", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  x <- s$execute("c(NA, NaN, Inf, -Inf, -0, 1/3, rnorm(100))")
  expect_true(is.na(x[1]) && !is.nan(x[1]))
  expect_true(is.nan(x[2]))
  expect_identical(sign(1 / x[5]), -1)
  expect_identical(x[6], 1/3)
  expect_identical(s$execute("set.seed(1); rnorm(1000)"), {set.seed(1); rnorm(1000)})
  expect_identical(s$execute("data.frame(a = 1:100, b = c(TRUE, NA), r = I(as.list(1:100)))"),
                   data.frame(a = 1:100, b = c(TRUE, NA), r = I(as.list(1:100))))
  expect_identical(s$execute("as.raw(0:255)"), as.raw(0:255))
})

test_that("a hostile value cannot make the client run code", {
  # A formula whose terms call system(): evaluated as predict() would, in
  # the environment the value brings, it finds no system.
  f <- dec(paste0('{"type":"language","value":"~system(\\"echo pwned >&2\\")",',
                  '"attributes":{"class":{"type":"character","value":["formula"]},',
                  '".Environment":{"type":"environment","value":"R_GlobalEnv"}}}'))
  expect_s3_class(f, "formula")
  expect_error(model.frame(f, data.frame(x = 1)), "could not find function \"system\"")
  expect_error(eval(f[[2]], environment(f)), "could not find function \"system\"")
  g <- dec('{"type":"language","value":"~base::system(\\"id\\") + base:::system(\\"id\\")","attributes":{".Environment":{"type":"environment","value":""}}}')
  expect_error(eval(g[[2]][[2]], attr(g, ".Environment")), "not available")
  for (n in c("system", "eval", "get", "match.fun", "do.call", "environment", "library",
              "Sys.setenv", "file", ".Internal", "assign", "parent.frame", "sys.function"))
    expect_false(exists(n, envir = environment(f)), info = n)
  # A "function" is text, never callable, whatever class it claims.
  fn <- dec('{"type":"function","value":"function() system(\\"id\\")","attributes":{"class":{"type":"character","value":["function"]}}}')
  expect_false(is.function(fn))
  expect_error(fn())
  expect_error(do.call(fn, list()))
  # A family the client does not know keeps its stand-ins: nothing to call.
  fam <- dec(paste0('{"type":"list","value":[{"type":"character","value":["evil"]},',
                    '{"type":"function","value":"function(eta) system(\\"id\\")"}],',
                    '"attributes":{"names":{"type":"character","value":["family","linkinv"]},',
                    '"class":{"type":"character","value":["family"]}}}'))
  expect_false(is.function(fam$linkinv))
  # A known one is the client's own, whatever functions came with it.
  fam <- dec(paste0('{"type":"list","value":[{"type":"character","value":["binomial"]},',
                    '{"type":"character","value":["logit"]},',
                    '{"type":"function","value":"function(eta) system(\\"id\\")"}],',
                    '"attributes":{"names":{"type":"character","value":["family","link","linkinv"]},',
                    '"class":{"type":"character","value":["family"]}}}'))
  expect_identical(deparse(fam$linkinv), deparse(binomial()$linkinv))
  # Language is one call, parsed, never evaluated.
  expect_error(dec('{"type":"language","value":"f(); system(\\"id\\")"}'), "not one call")
  expect_error(dec('{"type":"language","value":"x"}'), "not one call")
  expect_error(dec('{"type":"language","value":"f("}'), "not one call")
  deep <- paste0(strrep("f(", 1500), strrep(")", 1500))
  expect_error(dec(sprintf('{"type":"language","value":"%s"}', deep)), "nested|not one call|contextstack")
  # Nesting is bounded, without a crash.
  nest <- paste0(strrep('{"type":"list","value":[', 5000), strrep("]}", 5000))
  expect_error(dec(nest))
  # Attributes R would refuse are a clean error.
  expect_error(dec('{"type":"double","value":[1,2],"attributes":{"dim":{"type":"integer","value":[5]}}}'))
  # A nul in a string's bytes is refused.
  expect_error(dec('{"type":"character","value":[{"bytes":"AGE="}]}'), "nul")
})
