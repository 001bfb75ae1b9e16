"""A cycle estimate from an instruction trace: each executed instruction priced by the core's
published timings, with zero wait states (memory that keeps up with the core).

Cortex-M0 (Arm DDI 0432C, Cortex-M0 Technical Reference Manual, table 3-1, "Cortex-M0 instruction
summary"; the single-cycle multiplier configuration, as in the nRF51 of the micro:bit):
data processing, MOVS/ADDS/CMP/shifts/extends 1; MULS 1; LDR*/STR* 2; LDM/STM/PUSH 1+N;
POP 1+N, 4+N with the PC; B 3; B<cond> 3 taken, 1 not; BL 4; BX/BLX 3; ADD/MOV to the PC 3;
DMB/DSB/ISB 4.

Cortex-M4 (Arm DDI 0439B, Cortex-M4 TRM, table 3-1; P, the pipeline refill, taken as 2 of its
1..3): data processing and MUL 1; LDR* 2 (a load followed by another independent load pipelines
to 1, not modelled: an upper bound); STR* 1; LDM/STM/PUSH/POP 1+N; branches taken 1+P, not taken
1; BL 1+P; POP with the PC 1+N+P; floating point VADD/VMUL 1, VDIV 14, VLDR 2, VSTR 1, VMOV 1.

Model and limits: the count is exact for the instructions (a trace of every one executed); the
price of each is the manual's for an ideal memory. A real part adds flash wait states (the nRF51
runs its flash at 0 wait states at 16 MHz) and, on the M4, the load pipelining the model ignores.
"""

from __future__ import annotations

import re

M0 = {"load": 2, "store": 2, "mul": 1, "branch_taken": 3, "branch_not_taken": 1, "bl": 4, "bx": 3,
      "pc_write": 3, "pop_pc_extra": 3, "barrier": 4, "div": 1, "vfp": 1, "vdiv": 1}
M4 = {"load": 2, "store": 1, "mul": 1, "branch_taken": 3, "branch_not_taken": 1, "bl": 3, "bx": 3,
      "pc_write": 3, "pop_pc_extra": 2, "barrier": 4, "div": 7, "vfp": 1, "vdiv": 14}
TIMINGS = {"m0": M0, "m4": M4}

_CONDITIONS = "eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le"


def disassembly(text: str) -> dict[int, tuple[str, str, int]]:
    """`objdump -d` text -> {address: (mnemonic, operands, size in bytes)}."""
    table = {}
    for line in text.splitlines():
        match = re.match(r"\s*([0-9a-f]+):\s+((?:[0-9a-f]{4}\s?){1,2})\s+(\S+)\s*(.*)", line)
        if match:
            address, raw, mnemonic, operands = match.groups()
            table[int(address, 16)] = (mnemonic.split(".")[0], operands.split(";")[0].split("@")[0].strip(),
                                       2 * len(raw.split()))
    return table


def price(mnemonic: str, operands: str, taken: bool, core: dict) -> int:
    """Cycles of one executed instruction; ``taken``: the next instruction is not the following one."""
    m = mnemonic.lower()
    registers = len(re.findall(r"\br\d+\b|\blr\b|\bpc\b|\bsp\b|\bip\b|\bfp\b|\bsl\b|\bsb\b", operands.split("{", 1)[-1]))
    if m in ("push", "stmia", "stm", "stmdb", "ldmia", "ldm", "vpush", "vpop"):
        return 1 + registers
    if m == "pop":
        return 1 + registers + (core["pop_pc_extra"] if "pc" in operands else 0)
    if m in ("bl",):
        return core["bl"]
    if m in ("bx", "blx"):
        return core["bx"]
    if m == "b":
        return core["branch_taken"]
    if re.fullmatch(rf"b({_CONDITIONS})", m) or m in ("cbz", "cbnz"):
        return core["branch_taken"] if taken else core["branch_not_taken"]
    if m.startswith("ldr") or m.startswith("vldr"):
        return core["load"] + (core["pop_pc_extra"] if operands.startswith("pc") else 0)
    if m.startswith("str") or m.startswith("vstr"):
        return core["store"]
    if m in ("dmb", "dsb", "isb"):
        return core["barrier"]
    if m in ("sdiv", "udiv"):
        return core["div"]
    if m.startswith("vdiv") or m.startswith("vsqrt"):
        return core["vdiv"]
    if m in ("muls", "mul", "mla", "mls", "smull", "umull", "smlal", "umlal"):
        return core["mul"]
    if m.startswith("v"):
        return core["vfp"]
    if (m.startswith("mov") or m.startswith("add")) and operands.startswith("pc"):
        return core["pc_write"]
    return 1


def estimate(pcs: list[int], table: dict, core: dict) -> int:
    """Cycles of the executed sequence ``pcs`` (addresses, Thumb bit cleared)."""
    total = 0
    for at, following in zip(pcs, pcs[1:] + [None]):
        mnemonic, operands, size = table[at]
        total += price(mnemonic, operands, following is not None and following != at + size, core)
    return total
