# Plots the sandboxed code drew: attr(value, "plots") and
# session$last_plots() hold a "securer_plots" list of "securer_plot" raw
# vectors, each a PNG file's bytes, named like plot-001.png.

as_securer_plots <- function(x) {
  if (is.null(x) || length(x) == 0L) return(NULL)
  x <- lapply(x, function(p) structure(p, class = "securer_plot"))
  structure(x, class = "securer_plots")
}

plots_of <- function(x) {
  if (inherits(x, "securer_plots")) return(x)
  if (inherits(x, "securer_plot")) return(structure(list(x), class = "securer_plots"))
  p <- attr(x, "plots", exact = TRUE)
  if (inherits(p, "securer_plots")) p else NULL
}

#' Writes the plots of a value (its attr "plots"), of a session's
#' $last_plots() or of one plot to PNG files in dir; returns their paths.
securer_save_plots <- function(x, dir = ".", prefix = "") {
  plots <- plots_of(x)
  if (is.null(plots)) return(invisible(character(0)))
  if (!dir.exists(dir)) dir.create(dir, recursive = TRUE)
  nm <- names(plots)
  if (is.null(nm)) nm <- sprintf("plot-%03d.png", seq_along(plots))
  paths <- file.path(dir, paste0(prefix, nm))
  for (i in seq_along(plots)) writeBin(unclass(plots[[i]]), paths[i])
  invisible(paths)
}

png_size <- function(x) {
  b <- unclass(x)
  if (length(b) < 24L) return(c(NA, NA))
  n <- function(i) sum(as.numeric(b[i:(i + 3L)]) * 256^(3:0))
  c(n(17L), n(21L))
}

#' @export
format.securer_plot <- function(x, ...) {
  d <- png_size(x)
  sprintf("<securer_plot: PNG %sx%s, %d bytes>", d[1], d[2], length(x))
}

#' @export
print.securer_plot <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}

#' @export
print.securer_plots <- function(x, ...) {
  cat(sprintf("<securer_plots: %d plot%s>\n", length(x),
              if (length(x) == 1L) "" else "s"))
  nm <- names(x)
  for (i in seq_along(x))
    cat("  ", if (is.null(nm)) i else nm[i], ": ",
        format(x[[i]]), "\n", sep = "")
  invisible(x)
}

#' Draws the plot on the current device when the png package can read
#' it; else opens the file with the system's viewer when interactive.
#' @export
plot.securer_plot <- function(x, ...) {
  if (requireNamespace("png", quietly = TRUE)) {
    img <- png::readPNG(unclass(x))
    grid::grid.newpage()
    grid::grid.raster(img)
    return(invisible(x))
  }
  f <- tempfile(fileext = ".png")
  writeBin(unclass(x), f)
  if (interactive()) {
    utils::browseURL(f)
    return(invisible(f))
  }
  securer_abort(paste0("displaying a plot needs the png package (or an interactive ",
                       "session); securer_save_plots() writes it to ", f),
                "securer_no_display")
}

#' @export
plot.securer_plots <- function(x, ...) {
  for (p in x) plot(p, ...)
  invisible(x)
}

#' @export
`[.securer_plots` <- function(x, i) structure(unclass(x)[i], class = "securer_plots")
