/* errors.h - the error codes of the tensorcache command and its tools that the library never
 * returns. They share the number space of TC_ERROR_LIST (include/tensorcache.h reserves 33-36
 * for them), so one `tc_error` carries either kind and a report prints one name per number. */
#ifndef TC_TOOLS_ERRORS_H
#define TC_TOOLS_ERRORS_H

/* X(NAME, number, "description"); numbers fixed, like the library's. */
#define TCT_ERROR_LIST(X)                                                                          \
    X(SOURCE_FORMAT, 33, "malformed source file")                                                  \
    X(SOURCE_UNSUPPORTED, 34, "unsupported source file")                                           \
    X(COUNT_MISMATCH, 35, "sources have different numbers of samples")                            \
    X(USAGE, 36, "invalid command-line usage")

enum {
#define TCT_X_ENUM(name, num, text) TCT_ERR_##name = num,
    TCT_ERROR_LIST(TCT_X_ENUM)
#undef TCT_X_ENUM
};

/*! tct_error_name() : the name of a tool code, else tc_error_name(code) ("UNKNOWN" if neither). */
const char *tct_error_name(int code);
/*! tct_strerror() : the description of a tool code, else tc_strerror(code). */
const char *tct_strerror(int code);

#endif
