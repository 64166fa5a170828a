/* securerctl's offline check of an audit log. */

#ifndef VERIFY_H
#define VERIFY_H

int	audit_verify(const char *);

#endif /* VERIFY_H */
