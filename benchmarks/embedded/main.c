/* The benchmark firmware: classify every image of a host file, timing each call with SysTick.
 *
 * Reads   images.u8   N images of INPUTS bytes (0..255), through semihosting file I/O
 * Writes  results.bin per image: the class (int32) and the SysTick ticks of the call (uint32)
 * Prints  the calibration (ticks of a loop of known length), the ticks of an empty bracket, and
 *         the stack high-water mark of the first call (the stack painted with a pattern first).
 *
 * CLASSIFY is the function under test, `int CLASSIFY(const uint8_t pixels[INPUTS])`, set with -D;
 * it is the only thing between the two SysTick reads. Under QEMU's -icount shift=0 virtual time
 * advances 1 ns per instruction and SysTick counts the 25 MHz processor clock, so one tick is 40
 * instructions; the firmware measures that ratio rather than assuming it (calibrate()). */

#include <stdint.h>
#include <stdio.h>

#ifndef INPUTS
#define INPUTS 784
#endif

int CLASSIFY(const uint8_t pixels[INPUTS]);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define PAINT 0xC5C5C5C5u

extern uint32_t _stack_limit[];

static uint8_t image[INPUTS];

static void systick_start(void)
{
    SYST_RVR = 0xFFFFFFu;  /* the largest reload: 24 bits, counting down */
    SYST_CVR = 0;
    SYST_CSR = 5;          /* enable, processor clock, no interrupt */
}

static uint32_t elapsed(uint32_t start, uint32_t end)
{
    return (start - end) & 0xFFFFFFu;  /* down-counter; right across one wrap */
}

/* Ticks of 2 * n instructions: a two-instruction loop (subs, bne) run n times. */
static uint32_t __attribute__((noinline)) calibrate(uint32_t n)
{
    const uint32_t start = SYST_CVR;
    __asm volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");  /* Thumb-1 too (ARMv6-M) */
    return elapsed(start, SYST_CVR);
}

/* Bytes of stack one call to CLASSIFY uses: paint everything below this frame, call, and find the
 * lowest word the call overwrote. */
static uint32_t __attribute__((noinline)) stack_high_water(int *label)
{
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *at = _stack_limit; at < sp - 8; at++) *at = PAINT;
    *label = CLASSIFY(image);
    const uint32_t *at = _stack_limit;
    while (at < sp && *at == PAINT) at++;
    return (uint32_t)((uintptr_t)sp - (uintptr_t)at);
}

int main(void)
{
    FILE *in = fopen("images.u8", "rb"), *out = fopen("results.bin", "wb");
    if (!in || !out) {
        printf("error: cannot open images.u8 or results.bin\n");
        return 2;
    }
    systick_start();
    const uint32_t loop = 1000000, cal = calibrate(loop);
    uint32_t start = SYST_CVR;
    const uint32_t bracket = elapsed(start, SYST_CVR);
    int label, stack = -1;
    long count = 0;
    while (fread(image, 1, INPUTS, in) == INPUTS) {
        if (count == 0) stack = (int)stack_high_water(&label);
        start = SYST_CVR;
        label = CLASSIFY(image);
        const uint32_t ticks = elapsed(start, SYST_CVR);
        const int32_t row[2] = {label, (int32_t)ticks};
        fwrite(row, sizeof row, 1, out);
        count++;
    }
    fclose(out);
    fclose(in);
    printf("images %ld\ncalibration_instructions %lu\ncalibration_ticks %lu\nbracket_ticks %lu\nstack_bytes %d\n",
           count, (unsigned long)(2 * loop), (unsigned long)cal, (unsigned long)bracket, stack);
    return 0;
}
