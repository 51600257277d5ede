// data-processor-c: the reference guide's data processor, version 1.0.0's
// behaviour, written in C against ABI v1 without any SDK. It shows that the
// ABI is language-neutral and what a guest compiled from C costs next to Go
// (docs/benchmarks.md).
//
// Build (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32):
//
//	clang --target=wasm32-wasi --sysroot=/usr -O2 -mexec-model=reactor \
//	    -o plugins/data-processor-c.wasm examples/dataprocessor-c/src/processor.c
//
// POST /c/process takes {"batchId": "...", "records": [{"id": ..., "email": ...}, ...]}
// and answers the counts; GET /c/status answers this instance's totals.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMPORT(name) __attribute__((import_module("neuron:host/v1"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("config") int32_t host_config(uint8_t *buf, uint32_t cap);
IMPORT("metric_add") int32_t host_metric_add(const char *name, uint32_t len, double v);
IMPORT("event_emit") int32_t host_event_emit(const char *typ, uint32_t tlen, const char *data, uint32_t dlen);

static const char manifest[] =
    "{\"name\":\"data-processor-c\",\"version\":\"1.0.0\","
    "\"description\":\"Validates and deduplicates batches of customer records (C, no SDK)\","
    "\"capabilities\":[\"data_processing\",\"batch_operations\"],"
    "\"settings\":{\"batchSize\":1000},"
    "\"endpoints\":[{\"method\":\"POST\",\"path\":\"/c/process\",\"description\":\"Process customer data batch\"},"
    "{\"method\":\"GET\",\"path\":\"/c/status\",\"description\":\"Get processing status\"}]}";

static uint64_t pack(const void *p, uint32_t n) { return (uint64_t)(uintptr_t)p << 32 | n; }

EXPORT("neuron_abi_version") int32_t abi_version(void) { return 1; }
EXPORT("neuron_manifest") uint64_t get_manifest(void) { return pack(manifest, sizeof manifest - 1); }

// The request buffer belongs to the host until the next alloc.
static uint8_t *req_buf;
static uint32_t req_cap;

EXPORT("neuron_alloc") uint32_t alloc(uint32_t size) {
	if (size > req_cap || req_buf == NULL) {
		uint8_t *b = realloc(req_buf, size ? size : 1);
		if (b == NULL) return 0;
		req_buf = b;
		req_cap = size;
	}
	return (uint32_t)(uintptr_t)req_buf;
}

// ---- output buffer ----

static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
	if (out_len + n > out_cap) {
		size_t c = out_cap ? out_cap * 2 : 4096;
		while (c < out_len + n) c *= 2;
		out = realloc(out, c);
		out_cap = c;
	}
	memcpy(out + out_len, s, n);
	out_len += n;
}
static void puts_(const char *s) { put(s, strlen(s)); }
static void put_u32(uint32_t v) {
	uint8_t b[4] = {v, v >> 8, v >> 16, v >> 24};
	put((const char *)b, 4);
}
static void put_int(long v) {
	char b[24];
	int i = sizeof b;
	int neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
	do { b[--i] = '0' + u % 10; u /= 10; } while (u);
	if (neg) b[--i] = '-';
	put(b + i, sizeof b - i);
}
static void put_json_string(const char *s, size_t n) {
	put("\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') { put("\\", 1); put((char *)&c, 1); }
		else if (c < 0x20) { char e[7] = "\\u0000"; e[4] = "0123456789abcdef"[c >> 4]; e[5] = "0123456789abcdef"[c & 15]; put(e, 6); }
		else put((char *)&c, 1);
	}
	put("\"", 1);
}

// ---- a small JSON reader: enough to find fields and skip values ----

typedef struct { const char *p, *end; int bad; } json;

static void ws(json *j) { while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++; }
static int peek(json *j) { ws(j); return j->p < j->end ? *j->p : -1; }
static int eat(json *j, char c) { if (peek(j) == c) { j->p++; return 1; } return 0; }

static int hexval(int c) {
	if (c >= '0' && c <= '9') return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// str reads a string into dst (unescaped, UTF-8), or reports bad.
static size_t str(json *j, char *dst, size_t cap) {
	size_t n = 0;
	if (!eat(j, '"')) { j->bad = 1; return 0; }
	while (j->p < j->end && *j->p != '"') {
		unsigned c = (unsigned char)*j->p++;
		if (c < 0x20) { j->bad = 1; return 0; }
		if (c == '\\') {
			if (j->p >= j->end) break;
			char e = *j->p++;
			switch (e) {
			case '"': case '\\': case '/': c = e; break;
			case 'b': c = '\b'; break; case 'f': c = '\f'; break;
			case 'n': c = '\n'; break; case 'r': c = '\r'; break; case 't': c = '\t'; break;
			case 'u': {
				if (j->end - j->p < 4) { j->bad = 1; return 0; }
				unsigned u = 0;
				for (int i = 0; i < 4; i++) { int h = hexval(j->p[i]); if (h < 0) { j->bad = 1; return 0; } u = u << 4 | h; }
				j->p += 4;
				if (u >= 0xD800 && u < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
					unsigned lo = 0;
					for (int i = 2; i < 6; i++) { int h = hexval(j->p[i]); lo = h < 0 ? 0 : lo << 4 | h; }
					if (lo >= 0xDC00 && lo < 0xE000) { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00); j->p += 6; }
				}
				if (u >= 0xD800 && u < 0xE000) u = 0xFFFD;
				char b[4]; size_t k;
				if (u < 0x80) { b[0] = u; k = 1; }
				else if (u < 0x800) { b[0] = 0xC0 | u >> 6; b[1] = 0x80 | (u & 63); k = 2; }
				else if (u < 0x10000) { b[0] = 0xE0 | u >> 12; b[1] = 0x80 | (u >> 6 & 63); b[2] = 0x80 | (u & 63); k = 3; }
				else { b[0] = 0xF0 | u >> 18; b[1] = 0x80 | (u >> 12 & 63); b[2] = 0x80 | (u >> 6 & 63); b[3] = 0x80 | (u & 63); k = 4; }
				for (size_t i = 0; i < k; i++) if (n < cap) dst[n++] = b[i];
				continue;
			}
			default: j->bad = 1; return 0;
			}
		}
		if (n < cap) dst[n++] = c;
	}
	if (!eat(j, '"')) j->bad = 1;
	return n;
}

static void skip(json *j);

static void skip_number(json *j) {
	const char *s = j->p;
	if (j->p < j->end && *j->p == '-') j->p++;
	while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '+' || *j->p == '-')) j->p++;
	if (j->p == s) j->bad = 1;
}

static int lit(json *j, const char *w) {
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) >= n && memcmp(j->p, w, n) == 0) { j->p += n; return 1; }
	return 0;
}

static void skip(json *j) {
	switch (peek(j)) {
	case '"': { char tmp[1]; str(j, tmp, 0); break; }
	case '{':
		j->p++;
		if (eat(j, '}')) break;
		do { char tmp[1]; str(j, tmp, 0); if (!eat(j, ':')) { j->bad = 1; return; } skip(j); } while (!j->bad && eat(j, ','));
		if (!eat(j, '}')) j->bad = 1;
		break;
	case '[':
		j->p++;
		if (eat(j, ']')) break;
		do skip(j); while (!j->bad && eat(j, ','));
		if (!eat(j, ']')) j->bad = 1;
		break;
	case 't': if (!lit(j, "true")) j->bad = 1; break;
	case 'f': if (!lit(j, "false")) j->bad = 1; break;
	case 'n': if (!lit(j, "null")) j->bad = 1; break;
	default: skip_number(j);
	}
}

// ---- processing ----

#define MAXKEY 512

typedef struct { char id[MAXKEY]; size_t n; } key;

// The ids seen in the current batch: an open-addressing hash set.
static key *seen;
static uint32_t seen_cap;

static uint32_t hash(const char *s, size_t n) {
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

// add returns 1 when id was already in the set.
static int add(const char *id, size_t n) {
	uint32_t i = hash(id, n) & (seen_cap - 1);
	while (seen[i].n) {
		if (seen[i].n == n && memcmp(seen[i].id, id, n) == 0) return 1;
		i = (i + 1) & (seen_cap - 1);
	}
	memcpy(seen[i].id, id, n);
	seen[i].n = n;
	return 0;
}

static void reset_seen(uint32_t records) {
	uint32_t c = 16;
	while (c < records * 2) c *= 2;
	if (c > seen_cap) { free(seen); seen = malloc(c * sizeof *seen); seen_cap = c; }
	for (uint32_t i = 0; i < seen_cap; i++) seen[i].n = 0;
}

static int valid_email(const char *s, size_t n) {
	const char *at = memchr(s, '@', n);
	if (at == NULL || at == s || n > 254) return 0;
	for (size_t i = 0; i < n; i++) if (strchr(" \t\r\n,;<>", s[i]) && s[i]) return 0;
	const char *d = at + 1, *end = s + n;
	if (memchr(d, '@', end - d) || d == end || *d == '.' || end[-1] == '.' || !memchr(d, '.', end - d)) return 0;
	for (const char *p = d; p + 1 < end; p++) if (p[0] == '.' && p[1] == '.') return 0;
	return 1;
}

// trim_lower trims spaces and lower-cases ASCII in place.
static size_t trim_lower(char *s, size_t n) {
	size_t a = 0;
	while (a < n && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')) a++;
	while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
	for (size_t i = a; i < n; i++) s[i - a] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
	return n - a;
}

enum { VALID, NOT_OBJECT, BAD_ID, BAD_EMAIL_TYPE, BAD_EMAIL };

// record reads one record and, when it is valid, returns its id in id.
static int record(json *j, char *id, size_t *idn) {
	if (peek(j) != '{') { skip(j); return j->bad ? -1 : NOT_OBJECT; }
	j->p++;
	int have_id = 0, id_ok = 0, email_kind = 0; // email_kind: 0 absent, 1 string, 2 other
	char email[MAXKEY]; size_t en = 0;
	if (!eat(j, '}')) {
		do {
			char name[16]; size_t nn = str(j, name, sizeof name);
			if (j->bad || !eat(j, ':')) return -1;
			if (nn == 2 && memcmp(name, "id", 2) == 0) {
				have_id = 1;
				int c = peek(j);
				if (c == '"') {
					*idn = str(j, id, MAXKEY);
					size_t a = 0; while (a < *idn && id[a] == ' ') a++;
					id_ok = *idn > a;
				} else if (c == '-' || (c >= '0' && c <= '9')) {
					const char *s = j->p; skip_number(j);
					*idn = (size_t)(j->p - s) < MAXKEY ? (size_t)(j->p - s) : MAXKEY;
					memcpy(id, s, *idn); id_ok = 1;
				} else { skip(j); id_ok = 0; }
			} else if (nn == 5 && memcmp(name, "email", 5) == 0) {
				if (peek(j) == '"') { en = str(j, email, sizeof email); email_kind = 1; }
				else { skip(j); email_kind = 2; }
			} else skip(j);
		} while (!j->bad && eat(j, ','));
		if (!eat(j, '}')) return -1;
	}
	if (j->bad) return -1;
	if (!have_id || !id_ok) return BAD_ID;
	if (email_kind != 1) return BAD_EMAIL_TYPE;
	en = trim_lower(email, en);
	return valid_email(email, en) ? VALID : BAD_EMAIL;
}

static long batches, records_total, duplicates_total, invalid_total, rejected;

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// batch_size reads batchSize from the config, 1000 by default.
static long batch_size(void) {
	static uint8_t cfg[4096];
	int32_t n = host_config(cfg, sizeof cfg);
	if (n <= 0 || n > (int32_t)sizeof cfg) return 1000;
	json j = {(const char *)cfg, (const char *)cfg + n, 0};
	if (!eat(&j, '{') || eat(&j, '}')) return 1000;
	do {
		char name[32]; size_t nn = str(&j, name, sizeof name);
		if (j.bad || !eat(&j, ':')) return 1000;
		if (nn == 9 && memcmp(name, "batchSize", 9) == 0 && peek(&j) >= '0' && peek(&j) <= '9') {
			long v = strtol(j.p, NULL, 10);
			return v > 0 ? v : 1000;
		}
		skip(&j);
	} while (!j.bad && eat(&j, ','));
	return 1000;
}

static void error_body(int status, const char *code, const char *msg, size_t *st) {
	*st = status;
	puts_("{\"error\":"); put_json_string(msg, strlen(msg));
	puts_(",\"code\":"); put_json_string(code, strlen(code)); puts_("}");
}

// process writes the answer body to out and returns the status.
static size_t process(const char *body, size_t n) {
	size_t status = 200;
	double start = now_ms();
	json j = {body, body + n, 0};
	char batch_id[MAXKEY]; size_t bn = 0; int have_batch = 0;
	const char *records = NULL;
	if (!eat(&j, '{')) { rejected++; error_body(400, "bad_request", "request body: not a JSON object", &status); return status; }
	if (!eat(&j, '}')) {
		do {
			char name[16]; size_t nn = str(&j, name, sizeof name);
			if (j.bad || !eat(&j, ':')) break;
			if (nn == 7 && memcmp(name, "batchId", 7) == 0 && peek(&j) == '"') { bn = str(&j, batch_id, sizeof batch_id); have_batch = bn > 0; }
			else if (nn == 7 && memcmp(name, "records", 7) == 0 && peek(&j) == '[') { records = j.p; skip(&j); }
			else skip(&j);
		} while (!j.bad && eat(&j, ','));
		if (!j.bad && !eat(&j, '}')) j.bad = 1;
	}
	if (j.bad || peek(&j) != -1) { rejected++; error_body(400, "bad_request", "request body: malformed JSON", &status); return status; }
	if (!have_batch) { rejected++; error_body(400, "bad_request", "\"batchId\" is required", &status); return status; }
	if (records == NULL) { rejected++; error_body(400, "bad_request", "\"records\" must be an array", &status); return status; }
	// count, then check the limit, then process
	json r = {records + 1, body + n, 0};
	long count = 0;
	if (!eat(&r, ']')) { do { skip(&r); count++; } while (!r.bad && eat(&r, ',')); }
	long limit = batch_size();
	if (count > limit) {
		rejected++;
		error_body(413, "batch_too_large", "batch has more records than batchSize", &status);
		return status;
	}
	reset_seen(count);
	long processed = 0, dups = 0, invalid = 0;
	r = (json){records + 1, body + n, 0};
	if (!eat(&r, ']')) {
		do {
			char id[MAXKEY]; size_t idn = 0;
			int v = record(&r, id, &idn);
			if (v < 0) break;
			if (v != VALID) invalid++;
			else if (add(id, idn)) dups++;
			else processed++;
		} while (!r.bad && eat(&r, ','));
	}
	double ms = now_ms() - start;
	long ms_thousandths = (long)(ms * 1000 + 0.5);
	batches++; records_total += processed; duplicates_total += dups; invalid_total += invalid;
	host_metric_add("recordsProcessed", 16, processed);
	host_metric_add("batchesCompleted", 16, 1);
	host_metric_add("duplicatesFound", 15, dups);
	puts_("{\"batchId\":"); put_json_string(batch_id, bn);
	puts_(",\"recordCount\":"); put_int(count);
	puts_(",\"processingTime\":"); put_int(ms_thousandths / 1000); puts_("."); {
		char f[4] = {'0' + ms_thousandths / 100 % 10, '0' + ms_thousandths / 10 % 10, '0' + ms_thousandths % 10, 0}; puts_(f); }
	puts_("}");
	host_event_emit("batch_completed", 15, out, out_len);
	out_len = 0;
	puts_("{\"batchId\":"); put_json_string(batch_id, bn);
	puts_(",\"recordsReceived\":"); put_int(count);
	puts_(",\"recordsProcessed\":"); put_int(processed);
	puts_(",\"duplicatesFound\":"); put_int(dups);
	puts_(",\"invalidRecords\":"); put_int(invalid);
	puts_(",\"version\":\"1.0.0\"}");
	return status;
}

static size_t status_body(void) {
	puts_("{\"processor\":\"data-processor-c\",\"version\":\"1.0.0\",\"status\":\"ready\",\"instance\":{\"batchesProcessed\":");
	put_int(batches); puts_(",\"recordsProcessed\":"); put_int(records_total);
	puts_(",\"duplicatesFound\":"); put_int(duplicates_total); puts_(",\"invalidRecords\":"); put_int(invalid_total);
	puts_(",\"batchesRejected\":"); put_int(rejected); puts_("}}");
	return 200;
}

// ---- the ABI's request and response ----

typedef struct { const uint8_t *p, *end; int bad; } rd;

static uint32_t u32(rd *r) {
	if (r->end - r->p < 4) { r->bad = 1; return 0; }
	uint32_t v = r->p[0] | r->p[1] << 8 | r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	return v;
}
static const uint8_t *field(rd *r, uint32_t *n) {
	*n = u32(r);
	if (r->bad || (uint32_t)(r->end - r->p) < *n) { r->bad = 1; return NULL; }
	const uint8_t *s = r->p;
	r->p += *n;
	return s;
}
static void pairs(rd *r) {
	uint32_t n = u32(r), k;
	for (uint32_t i = 0; i < 2 * n && !r->bad; i++) field(r, &k);
}

static char *resp;
static size_t resp_cap;

EXPORT("neuron_handle") uint64_t handle(uint32_t ptr, uint32_t len) {
	rd r = {(const uint8_t *)(uintptr_t)ptr, (const uint8_t *)(uintptr_t)ptr + len, 0};
	uint32_t mn, pn, rn, qn, bn;
	const uint8_t *method = field(&r, &mn);
	field(&r, &pn);
	const uint8_t *route = field(&r, &rn);
	pairs(&r);
	field(&r, &qn);
	pairs(&r);
	const uint8_t *body = field(&r, &bn);
	out_len = 0;
	size_t status;
	if (r.bad) { error_body(400, "bad_request", "malformed request", &status); }
	else if (rn == 10 && memcmp(route, "/c/process", 10) == 0 && mn == 4 && memcmp(method, "POST", 4) == 0) status = process((const char *)body, bn);
	else if (rn == 9 && memcmp(route, "/c/status", 9) == 0) status = status_body();
	else error_body(404, "not_found", "no handler", &status);
	// status, one header, body
	size_t need = 4 + 4 + 4 + 12 + 4 + 16 + 4 + out_len;
	if (need > resp_cap) { resp = realloc(resp, need); resp_cap = need; }
	char *saved = out; size_t saved_len = out_len, saved_cap = out_cap;
	out = resp; out_len = 0; out_cap = resp_cap;
	put_u32(status); put_u32(1);
	put_u32(12); puts_("Content-Type"); put_u32(16); puts_("application/json");
	put_u32(saved_len); put(saved, saved_len);
	resp = out; resp_cap = out_cap;
	out = saved; out_cap = saved_cap;
	return pack(resp, out_len);
}
