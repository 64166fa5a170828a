/*
 * For ATF test programs built with AddressSanitizer: include once, from
 * the file holding the test cases.
 *
 * libatf-c does not free its list of test cases; naming its functions
 * to LeakSanitizer keeps every other leak reported.  kyua takes any
 * output while listing the test cases as breakage, so the statistics of
 * used suppressions are not printed.
 */

#ifndef REGRESS_SANITIZER_H
#define REGRESS_SANITIZER_H

/* gcc says so with a macro, clang only through __has_feature(). */
#if defined(__SANITIZE_ADDRESS__)
#define REGRESS_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REGRESS_ASAN	1
#endif
#endif

#ifdef REGRESS_ASAN
const char	*__lsan_default_suppressions(void);
const char	*__lsan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return ("leak:atf_tp_get_tcs\nleak:atf_list_\nleak:atf_map_\n");
}

const char *
__lsan_default_options(void)
{
	return ("print_suppressions=0");
}
#endif

#endif /* REGRESS_SANITIZER_H */
