// A small C face for libcurl: `curl_easy_setopt` is variadic, which Swift cannot call. Only what
// the Hubject transport needs: one HTTPS POST of a JSON body with a client certificate.
#ifndef CCURL_H
#define CCURL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What the transport is configured with; strings are copied by curl.
typedef struct ccurl_tls {
    const char *client_cert;  // PEM file
    const char *client_key;   // PEM file
    const char *ca_bundle;    // PEM file of the CAs to trust for the server (Hubject's private root)
    long connect_timeout_ms;
    long timeout_ms;
} ccurl_tls;

/// The outcome of one request. `curl_code` 0 means an HTTP response arrived (any status).
typedef struct ccurl_result {
    int curl_code;            // CURLcode
    long http_status;
    long retry_after_seconds; // -1 when absent or not delta-seconds
    double total_seconds;
    unsigned char *body;      // malloc'd, at most `body_limit` bytes; free with ccurl_result_free
    size_t body_length;
    int body_truncated;       // the answer went past `body_limit`: the transfer was stopped there
    char error[256];          // curl's error buffer
} ccurl_result;

/// curl_global_init; call once before any handle.
int ccurl_global_init(void);

/// A new easy handle, or NULL.
void *ccurl_handle_new(void);
void ccurl_handle_free(void *handle);

/// POSTs `body` to `url` with `Content-Type: application/json` over TLS 1.2+ with the client
/// certificate, verifying the server against the CA bundle and its name. Reuses the handle's
/// connection when it can. Reads at most `body_limit` bytes of the answer: a longer one stops the
/// transfer there (see `ccurl_is_oversized`). Fills `result`; returns `result->curl_code`.
int ccurl_post_json(void *handle, const char *url, const unsigned char *body, size_t length, const ccurl_tls *tls,
                    size_t body_limit, ccurl_result *result);

void ccurl_result_free(ccurl_result *result);

/// `curl_easy_strerror` of a code.
const char *ccurl_strerror(int code);

/// Classifications of curl codes the transport reports on.
int ccurl_is_timeout(int code);
int ccurl_is_connect_failure(int code);
int ccurl_is_tls_failure(int code);
/// Whether the request failed because the answer was longer than `body_limit`.
int ccurl_is_oversized(const ccurl_result *result);

#ifdef __cplusplus
}
#endif

#endif
