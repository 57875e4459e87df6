"""Rewrite CUDA launches k<<<grid, block, smem, stream>>>(args); into host emulation calls
emu::launch(dim3(grid), dim3(block), [&] { k(args); }); — for tests/gpu/cuda_emu only."""

import pathlib
import sys


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def translate(src):
    out, i = [], 0
    while True:
        j = src.find("<<<", i)
        if j < 0:
            out.append(src[i:])
            return "".join(out)
        k = j  # the kernel expression ends at j: an identifier, then optionally <template arguments>
        if src[k - 1] == ">":
            depth = 0
            while True:
                k -= 1
                depth += {">": 1, "<": -1}.get(src[k], 0)
                if depth == 0:
                    break
        while k > 0 and (src[k - 1].isalnum() or src[k - 1] in "_:"):
            k -= 1
        kernel = src[k:j]
        e = src.index(">>>", j)
        cfg = split_top(src[j + 3:e])
        assert src[e + 3] == "(", src[e:e + 20]
        depth, p = 0, e + 3
        while True:
            if src[p] == "(":
                depth += 1
            elif src[p] == ")":
                depth -= 1
                if depth == 0:
                    break
            p += 1
        args = src[e + 4:p]
        out.append(src[i:k])
        out.append(f"emu::launch(dim3({cfg[0]}), dim3({cfg[1]}), [&] {{ {kernel}({args}); }})")
        i = p + 1


if __name__ == "__main__":
    src_dir, dst_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dst_dir.mkdir(parents=True, exist_ok=True)
    for f in sorted(src_dir.iterdir()):
        if f.suffix in (".cu", ".cuh", ".h"):
            (dst_dir / (f.stem + (".cpp" if f.suffix == ".cu" else f.suffix))).write_text(translate(f.read_text()))
