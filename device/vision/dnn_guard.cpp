// A guarded load of the BlazeFace model: OpenCV reports a bad model file by throwing a C++
// exception, which gocv does not catch, so the whole agent would abort on a corrupt or wrong
// file. This loads the model and runs one blank frame through it inside try/catch, and checks
// that its four outputs have BlazeFace's shapes (scores 512 and 384, boxes ×16).
#include <opencv2/dnn.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>
#include "dnn_guard.h"

int fm_check_blazeface(const char* model, char* err, int errlen) {
    try {
        cv::dnn::Net net = cv::dnn::readNetFromONNX(model);
        if (net.empty()) {
            std::snprintf(err, errlen, "the file holds no network");
            return 1;
        }
        int shape[4] = {1, 128, 128, 3};
        cv::Mat blob(4, shape, CV_32F, cv::Scalar(0));
        net.setInput(blob);
        std::vector<cv::Mat> outs;
        std::vector<std::string> names = {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"};
        net.forward(outs, names);
        const size_t want[4] = {512, 384, 512 * 16, 384 * 16};
        for (int i = 0; i < 4; i++) {
            if (outs[i].total() != want[i]) {
                std::snprintf(err, errlen, "output %s has %zu values, want %zu (not the BlazeFace 128×128 front model)",
                              names[i].c_str(), outs[i].total(), want[i]);
                return 1;
            }
        }
        return 0;
    } catch (const cv::Exception& e) {
        std::snprintf(err, errlen, "%s", e.err.c_str());
    } catch (const std::exception& e) {
        std::snprintf(err, errlen, "%s", e.what());
    } catch (...) {
        std::snprintf(err, errlen, "unknown error");
    }
    return 1;
}

void fm_set_num_threads(int n) { cv::setNumThreads(n); }
