# Rscript expect.R expected actual: compares a script's standard output
# with what it must print, line by line.  An expected line "~ re" matches
# the regular expression re (for timestamps and identifiers); any other
# line must be equal.  Prints the first difference and fails on one.
a <- commandArgs(TRUE)
want <- readLines(a[1], warn = FALSE)
got <- readLines(a[2], warn = FALSE)
for (i in seq_len(max(length(want), length(got)))) {
  w <- if (i <= length(want)) want[i] else NA
  g <- if (i <= length(got)) got[i] else NA
  ok <- !is.na(w) && !is.na(g) &&
    (if (startsWith(w, "~ ")) grepl(substring(w, 3), g, perl = TRUE) else w == g)
  if (!ok) {
    cat(sprintf("line %d: expected %s\n         got      %s\n", i,
                if (is.na(w)) "(end)" else encodeString(w, quote = "'"),
                if (is.na(g)) "(end)" else encodeString(g, quote = "'")))
    quit(status = 1)
  }
}
