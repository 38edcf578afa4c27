// A guarded load of a dnn model: OpenCV reports a bad model file by throwing a C++ exception,
// which gocv does not catch, so the whole agent would abort on an operator's typo. This loads
// the model and runs one blank frame through it inside try/catch, and checks that the output
// has the shape of a face detector's ([1,1,N,7]).
#include <opencv2/dnn.hpp>
#include <cstdio>
#include <exception>
#include "dnn_guard.h"

int fm_check_net(const char* model, const char* config, char* err, int errlen) {
    try {
        cv::dnn::Net net = cv::dnn::readNet(model, config);
        if (net.empty()) {
            std::snprintf(err, errlen, "the file holds no network");
            return 1;
        }
        cv::Mat img(300, 300, CV_8UC3, cv::Scalar(0, 0, 0));
        cv::Mat blob = cv::dnn::blobFromImage(img, 1.0, cv::Size(300, 300), cv::Scalar(104, 177, 123), false, false);
        net.setInput(blob);
        cv::Mat out = net.forward();
        if (out.dims != 4 || out.size[3] != 7) {
            std::snprintf(err, errlen, "its output is not a face detector's [1,1,N,7] detections");
            return 1;
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
