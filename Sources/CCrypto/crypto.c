#include "logbook_crypto.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

struct logbook_key { EVP_PKEY *pkey; };

int logbook_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len, uint8_t out[32]) {
    unsigned int len = 32;
    return HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out, &len) != NULL && len == 32;
}

static logbook_key *from_params(const char *type, OSSL_PARAM_BLD *bld) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    int ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!ok) { EVP_PKEY_free(pkey); return NULL; }
    logbook_key *key = malloc(sizeof *key);
    if (!key) { EVP_PKEY_free(pkey); return NULL; }
    key->pkey = pkey;
    return key;
}

logbook_key *logbook_rsa_public_key(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len) {
    BIGNUM *bn = BN_bin2bn(n, (int)n_len, NULL), *be = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    logbook_key *key = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        key = from_params("RSA", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return key;
}

logbook_key *logbook_p256_public_key(const uint8_t x[32], const uint8_t y[32]) {
    uint8_t point[65];
    point[0] = 0x04;  // uncompressed
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    logbook_key *key = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point)) {
        key = from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    if (key) {
        // fromdata does not check that the point is on the curve; a public key check does.
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
        int ok = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!ok) { logbook_key_free(key); key = NULL; }
    }
    return key;
}

int logbook_key_bits(const logbook_key *key) { return key ? EVP_PKEY_get_bits(key->pkey) : 0; }

static int verify_der(const logbook_key *key, const uint8_t *data, size_t data_len, const uint8_t *sig, size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1
        && EVP_DigestVerify(ctx, sig, sig_len, data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

int logbook_verify_rs256(const logbook_key *key, const uint8_t *data, size_t data_len, const uint8_t *sig, size_t sig_len) {
    if (!key || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) return 0;
    return verify_der(key, data, data_len, sig, sig_len);
}

int logbook_verify_es256(const logbook_key *key, const uint8_t *data, size_t data_len, const uint8_t sig[64]) {
    if (!key || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC) return 0;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) { ECDSA_SIG_free(s); BN_free(r); BN_free(ss); return 0; }
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);  // owns r and s now
    if (der_len <= 0) return 0;
    int ok = verify_der(key, data, data_len, der, (size_t)der_len);
    OPENSSL_free(der);
    return ok;
}

void logbook_key_free(logbook_key *key) {
    if (!key) return;
    EVP_PKEY_free(key->pkey);
    free(key);
}
