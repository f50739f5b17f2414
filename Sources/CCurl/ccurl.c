#include "ccurl.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

typedef struct sink {
    ccurl_result *result;
    size_t limit;
} sink;

// Keeps the body up to `limit` bytes. One byte more and the transfer stops: returning less than
// was offered makes curl abort with CURLE_WRITE_ERROR and close the connection. Reading on and
// dropping the rest would keep memory bounded but not time: an answer that never ends (or a
// huge one) would hold the request, its thread and the session's next notification until the
// whole-exchange timeout.
static size_t write_body(char *data, size_t size, size_t count, void *context) {
    sink *target = (sink *)context;
    size_t length = size * count;
    ccurl_result *result = target->result;
    size_t room = target->limit > result->body_length ? target->limit - result->body_length : 0;
    if (length > room) {
        result->body_truncated = 1;
        return 0;
    }
    if (length > 0) {
        unsigned char *grown = realloc(result->body, result->body_length + length);
        if (grown == NULL) return 0;  // aborts the transfer: CURLE_WRITE_ERROR
        memcpy(grown + result->body_length, data, length);
        result->body = grown;
        result->body_length += length;
    }
    return length;
}

static size_t read_header(char *data, size_t size, size_t count, void *context) {
    ccurl_result *result = (ccurl_result *)context;
    size_t length = size * count;
    static const char name[] = "retry-after:";
    if (length > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t index = sizeof(name) - 1;
        while (index < length && (data[index] == ' ' || data[index] == '\t')) index++;
        long seconds = 0;
        int digits = 0;
        while (index < length && isdigit((unsigned char)data[index]) && digits < 9) {
            seconds = seconds * 10 + (data[index] - '0');
            index++;
            digits++;
        }
        result->retry_after_seconds = digits > 0 ? seconds : -1;  // an HTTP-date is not parsed
    }
    return length;
}

int ccurl_global_init(void) { return (int)curl_global_init(CURL_GLOBAL_DEFAULT); }

void *ccurl_handle_new(void) { return curl_easy_init(); }

void ccurl_handle_free(void *handle) {
    if (handle != NULL) curl_easy_cleanup((CURL *)handle);
}

int ccurl_post_json(void *handle, const char *url, const unsigned char *body, size_t length, const ccurl_tls *tls,
                    size_t body_limit, ccurl_result *result) {
    CURL *curl = (CURL *)handle;
    memset(result, 0, sizeof(*result));
    result->retry_after_seconds = -1;
    sink target = {result, body_limit};
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

    curl_easy_reset(curl);  // keeps the connection cache; clears the previous request's options
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "error-ledger");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->client_cert);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->client_key);
    curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca_bundle);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, tls->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, tls->timeout_ms);
    // An announced Content-Length over the cap fails before the body is read (CURLE_FILESIZE_EXCEEDED);
    // a chunked or unannounced one is stopped by write_body at the cap.
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)body_limit);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &target);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, result);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, result->error);

    CURLcode code = curl_easy_perform(curl);
    result->curl_code = (int)code;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->http_status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &result->total_seconds);
    if (code != CURLE_OK && result->error[0] == '\0') {
        strncpy(result->error, curl_easy_strerror(code), sizeof(result->error) - 1);
    }
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);  // the buffer belongs to this call
    curl_slist_free_all(headers);
    return result->curl_code;
}

void ccurl_result_free(ccurl_result *result) {
    free(result->body);
    result->body = NULL;
    result->body_length = 0;
}

const char *ccurl_strerror(int code) { return curl_easy_strerror((CURLcode)code); }

int ccurl_is_timeout(int code) { return code == CURLE_OPERATION_TIMEDOUT; }

int ccurl_is_oversized(const ccurl_result *result) {
    return result->curl_code == CURLE_FILESIZE_EXCEEDED || (result->curl_code == CURLE_WRITE_ERROR && result->body_truncated);
}

int ccurl_is_connect_failure(int code) {
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY;
}

int ccurl_is_tls_failure(int code) {
    return code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CERTPROBLEM ||
           code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CIPHER || code == CURLE_SSL_ENGINE_NOTFOUND ||
           code == CURLE_SSL_ISSUER_ERROR || code == CURLE_SSL_CLIENTCERT;
}
