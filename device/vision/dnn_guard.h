#ifndef FM_DNN_GUARD_H
#define FM_DNN_GUARD_H
#ifdef __cplusplus
extern "C" {
#endif
// fm_check_blazeface loads model and runs a blank frame through it; 0 = usable, else err holds why.
int fm_check_blazeface(const char* model, char* err, int errlen);
// fm_set_num_threads sets the threads of OpenCV's parallel loops (cv::setNumThreads).
void fm_set_num_threads(int n);
#ifdef __cplusplus
}
#endif
#endif
