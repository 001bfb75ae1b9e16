"""The cycle estimate of benchmarks/embedded/cycles.py: objdump lines parsed, each instruction
priced by the Cortex-M0 TRM's table, a branch's cost set by where the trace went next."""

import importlib.util
from pathlib import Path

CYCLES = Path(__file__).resolve().parents[2] / "benchmarks" / "embedded" / "cycles.py"
_spec = importlib.util.spec_from_file_location("embedded_cycles", CYCLES)
cycles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cycles)

LOOP = """
00000100 <pairs>:
 100:	5c8e      	ldrb	r6, [r1, r2]
 102:	5697      	ldrsb	r7, [r2, r2]
 104:	19ad      	adds	r5, r5, r6
 106:	4377      	muls	r7, r6
 108:	429a      	cmp	r2, r3
 10a:	d1f9      	bne.n	100 <pairs>
 10c:	bdf0      	pop	{r4, r5, r6, r7, pc}
 10e:	f7ff fff7 	bl	100 <pairs>
"""


def test_objdump_lines_become_mnemonic_operands_and_size():
    table = cycles.disassembly(LOOP)
    assert table[0x100] == ("ldrb", "r6, [r1, r2]", 2)
    assert table[0x10a] == ("bne", "100 <pairs>", 2)
    assert table[0x10e] == ("bl", "100 <pairs>", 4)  # a 32-bit instruction


def test_a_loop_of_two_passes_by_the_m0_table():
    table = cycles.disassembly(LOOP)
    body = [0x100, 0x102, 0x104, 0x106, 0x108, 0x10a]
    # pass one: loads 2 + 2, adds 1, muls 1, cmp 1, bne taken 3; pass two: the same but bne falls
    # through (1); then pop of 5 registers with the pc: 1 + 5 + 3
    assert cycles.estimate(body + body + [0x10c], table, cycles.M0) == 10 + 8 + 9


def test_pop_and_push_cost_one_per_register():
    assert cycles.price("push", "{r4, r5, r6, r7, lr}", False, cycles.M0) == 6
    assert cycles.price("pop", "{r4, r5}", False, cycles.M0) == 3
    assert cycles.price("bl", "100 <pairs>", True, cycles.M0) == 4
    assert cycles.price("str", "r3, [sp, #12]", False, cycles.M4) == 1
