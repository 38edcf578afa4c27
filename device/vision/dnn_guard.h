#ifndef FITMIRROR_DNN_GUARD_H
#define FITMIRROR_DNN_GUARD_H
#ifdef __cplusplus
extern "C" {
#endif
int fm_check_net(const char* model, const char* config, char* err, int errlen);
#ifdef __cplusplus
}
#endif
#endif
