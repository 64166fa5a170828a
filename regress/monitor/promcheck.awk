# A strict check of Prometheus' text exposition format 0.0.4, as
# "securerctl metrics" prints it.  Prints one line per problem, with its
# line number, and exits 1 if there was any.
#
#	awk -f promcheck.awk metrics.txt
#
# Beyond the format's grammar (metric and label names, label values with
# only \\, \" and \n escapes, values as Go's ParseFloat reads them), it
# checks what a scraper relies on: HELP and TYPE at most once per family
# and before its samples, every sample under a TYPE, a family's samples
# together, no series twice, counters named _total, and each histogram
# with le buckets in ascending order, cumulative counts that never go
# down, a last +Inf bucket equal to _count, and _sum and _count once.

function bad(msg) {
	printf "line %d: %s: %s\n", NR, msg, $0
	errors++
}

function name_ok(s) {
	return s ~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
}

function value_ok(s) {
	return s ~ /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/ ||
	    s ~ /^[-+]?Inf$/ || s == "NaN"
}

# Parses labels text (between the braces) into lab[], nlab; 0 if bad.
function parse_labels(s,    name, c, val, i, n) {
	nlab = 0
	delete lab
	while (s != "") {
		if (!match(s, /^[a-zA-Z_][a-zA-Z0-9_]*="/))
			return 0
		name = substr(s, 1, RLENGTH - 2)
		s = substr(s, RLENGTH + 1)
		val = ""
		n = length(s)
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (c == "\\") {
				c = substr(s, i + 1, 1)
				if (c != "\\" && c != "\"" && c != "n")
					return 0
				val = val "\\" c
				i++
			} else if (c == "\"")
				break
			else
				val = val c
		}
		if (i > n)
			return 0
		if (name in lab)
			return 0
		lab[name] = val
		labnames[++nlab] = name
		s = substr(s, i + 1)
		if (s == "")
			break
		if (substr(s, 1, 1) != "," || length(s) == 1)
			return 0
		s = substr(s, 2)
	}
	return 1
}

# The family a sample name belongs to, given the declared types.
function family_of(name,    base) {
	if (name in type)
		return name
	if (match(name, /_(bucket|sum|count)$/)) {
		base = substr(name, 1, RSTART - 1)
		if (type[base] == "histogram")
			return base
	}
	if (match(name, /_(sum|count)$/)) {
		base = substr(name, 1, RSTART - 1)
		if (type[base] == "summary")
			return base
	}
	return ""
}

function le_value(s) {
	if (s == "+Inf")
		return "inf"
	return s + 0
}

# Closes the histogram series being read: +Inf last and equal to _count.
function end_histogram() {
	if (hfam == "")
		return
	if (!hinf)
		printf "histogram %s: no le=\"+Inf\" bucket\n", hfam
	else if (!(hfam in hcount))
		printf "histogram %s: no _count\n", hfam
	else if (hcount[hfam] != hinfv)
		printf "histogram %s: +Inf bucket %s but _count %s\n", hfam,
		    hinfv, hcount[hfam]
	else if (!(hfam in hsum))
		printf "histogram %s: no _sum\n", hfam
	else
		ok = 1
	if (!ok)
		errors++
	ok = 0
	hfam = ""
}

/^#/ {
	if ($0 ~ /^# HELP /) {
		if (NF < 3 || !name_ok($3)) {
			bad("bad HELP")
			next
		}
		if ($3 in help)
			bad("second HELP for " $3)
		if ($3 in seen)
			bad("HELP after samples of " $3)
		help[$3] = 1
		text = substr($0, length("# HELP " $3) + 2)
		gsub(/\\\\|\\n/, "", text)
		if (text ~ /\\/)
			bad("HELP text with a bad escape")
		next
	}
	if ($0 ~ /^# TYPE /) {
		if (NF != 4 || !name_ok($3) ||
		    $4 !~ /^(counter|gauge|histogram|summary|untyped)$/) {
			bad("bad TYPE")
			next
		}
		if ($3 in type)
			bad("second TYPE for " $3)
		if ($3 in seen)
			bad("TYPE after samples of " $3)
		if ($4 == "counter" && $3 !~ /_total$/)
			bad("counter not named _total")
		type[$3] = $4
		next
	}
	next		# other comments are allowed
}

/^$/ {
	bad("empty line")
	next
}

{
	line = $0
	if (match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/) == 0) {
		bad("bad metric name")
		next
	}
	name = substr(line, 1, RLENGTH)
	rest = substr(line, RLENGTH + 1)
	labels = ""
	if (substr(rest, 1, 1) == "{") {
		# the labels end at the first } outside a quoted value
		inq = 0
		for (i = 2; i <= length(rest); i++) {
			c = substr(rest, i, 1)
			if (inq && c == "\\") {
				i++
				continue
			}
			if (c == "\"")
				inq = !inq
			else if (c == "}" && !inq)
				break
		}
		if (i > length(rest)) {
			bad("unterminated labels")
			next
		}
		labels = substr(rest, 2, i - 2)
		rest = substr(rest, i + 1)
	}
	if (!parse_labels(labels)) {
		bad("bad labels")
		next
	}
	if (rest !~ /^ [^ ]+( -?[0-9]+)?$/) {
		bad("bad value or timestamp")
		next
	}
	split(substr(rest, 2), parts, " ")
	value = parts[1]
	if (!value_ok(value)) {
		bad("bad value")
		next
	}
	fam = family_of(name)
	if (fam == "") {
		bad("sample without a TYPE")
		next
	}
	if (fam != lastfam) {
		if (fam in done)
			bad("samples of " fam " not together")
		if (lastfam != "")
			done[lastfam] = 1
		end_histogram()
		lastfam = fam
	}
	seen[fam] = 1
	key = name "{" labels "}"
	if (key in series)
		bad("series twice")
	series[key] = 1
	if (type[fam] == "counter" && value < 0)
		bad("negative counter")
	if (type[fam] != "histogram")
		next
	if (name == fam "_bucket") {
		if (!("le" in lab) || nlab != 1) {
			bad("bucket without le alone")
			next
		}
		if (hfam == "") {
			hfam = fam
			hinf = 0
			hprev = ""
			hprevv = 0
		}
		if (hinf)
			bad("bucket after +Inf")
		le = le_value(lab["le"])
		if (lab["le"] != "+Inf" && !value_ok(lab["le"]))
			bad("bad le")
		if (hprev != "" && (le != "inf" && le + 0 <= hprev + 0))
			bad("le not ascending")
		if (value + 0 < hprevv + 0)
			bad("cumulative count goes down")
		hprev = le
		hprevv = value
		if (le == "inf") {
			hinf = 1
			hinfv = value
		}
	} else if (name == fam "_count") {
		if (fam in hcount)
			bad("second _count")
		hcount[fam] = value
	} else if (name == fam "_sum") {
		if (fam in hsum)
			bad("second _sum")
		hsum[fam] = value
	} else
		bad("histogram sample that is no bucket, sum or count")
}

END {
	end_histogram()
	if (NR == 0) {
		print "no metrics at all"
		errors++
	}
	exit errors > 0
}
