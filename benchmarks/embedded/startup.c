/* Vector table and reset handler for the Cortex-M4F of mps2-an386 and the Cortex-M0 of microbit.
 *
 * At reset the core loads the stack pointer from word 0 and jumps to word 1. Built for a core
 * with an FPU (hard-float ABI), the handler turns it on first (CPACR: full access to coprocessors
 * 10 and 11; until then any floating-point instruction faults); an ARMv6-M core has none. It then copies .data from code memory into RAM, zeroes .bss, opens the
 * semihosting console (newlib's rdimon), runs the constructors and calls main. This file has no
 * floating-point code, so nothing here can run before the FPU is on. */

#include <stdint.h>
#include <stdlib.h>

extern uint32_t _stack_top[], _data_start[], _data_end[], _data_load[], _bss_start[], _bss_end[];
extern int main(void);
extern void initialise_monitor_handles(void);  /* librdimon: stdin/stdout/stderr over semihosting */
extern void __libc_init_array(void);

#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void);
static void Fault_Handler(void);

__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))_stack_top,  /* 0: initial stack pointer */
    Reset_Handler,               /* 1: reset */
    Fault_Handler,               /* 2: NMI */
    Fault_Handler,               /* 3: hard fault */
    Fault_Handler,               /* 4: memory management fault */
    Fault_Handler,               /* 5: bus fault */
    Fault_Handler,               /* 6: usage fault (an FPU instruction with the FPU off lands here) */
    0, 0, 0, 0,                  /* 7-10: reserved */
    Fault_Handler,               /* 11: SVCall */
    Fault_Handler,               /* 12: debug monitor */
    0,                           /* 13: reserved */
    Fault_Handler,               /* 14: PendSV */
    Fault_Handler,               /* 15: SysTick (the benchmark reads it, with its interrupt off) */
};

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    CPACR |= 0xFu << 20;  /* CP10 and CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *from = _data_load, *to = _data_start; to < _data_end;) *to++ = *from++;
    for (uint32_t *at = _bss_start; at < _bss_end;) *at++ = 0;
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

static void Fault_Handler(void)
{
    _Exit(99);  /* a semihosting exit: QEMU stops with status 99 instead of hanging */
}
