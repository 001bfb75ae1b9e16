/* emx-onnx-cgen's entry point behind the benchmark's `int CLASSIFY(const uint8_t *)`.
 *
 * The dense ONNX export takes pixels / 255 as float (N, 1, 28, 28) and returns 10 scores; this
 * converts the bytes (as our classify does inside), calls the generated `peer` and takes the
 * arg-max (first of equal scores, as ours). Its input and score arrays are on the stack, so the
 * stack high-water mark counts them, as our model's static buffers count in its bss. */

#include <stdint.h>

void peer(const float pixels[restrict 1][1][28][28], float scores[restrict 1][10]);

int peer_classify(const uint8_t bytes[784])
{
    float pixels[1][1][28][28], scores[1][10];
    for (int i = 0; i < 784; i++) pixels[0][0][i / 28][i % 28] = (float)bytes[i] / 255.0f;
    peer(pixels, scores);
    int best = 0;
    for (int j = 1; j < 10; j++)
        if (scores[0][j] > scores[0][best]) best = j;
    return best;
}
