#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

Standard library only, except the JPEG seeds, which are encoded with `stbi_write_jpg` through a
tiny C helper when a compiler and libstb are present (otherwise the committed files are kept).
Rerun to regenerate; crashers found by fuzzing are saved next to the seeds as crash-<sha1>."""
import base64, io, os, struct, subprocess, sys, tarfile, tempfile, zipfile, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def png(w, h, colour=2, depth=8, pixel=lambda x, y: (x * 40 % 256, y * 60 % 256, 128)):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    rows = b""
    for y in range(h):
        rows += b"\0"
        for x in range(w):
            p = pixel(x, y)
            rows += bytes(p if colour == 2 else p[:1])
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def bmp(w, h):
    row = (w * 3 + 3) & ~3
    pix = b"".join(bytes([(x * 50) % 256, (y * 70) % 256, 200] * 1)[:3] * 1 for y in range(h)
                   for x in range(w))
    data = b""
    for y in range(h):
        r = pix[y * w * 3:(y + 1) * w * 3]
        data += r + b"\0" * (row - len(r))
    hdr = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return hdr + dib + data


def gif1x1():
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\xff"
            b"!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def pnm(w, h):
    return b"P6\n%d %d\n255\n" % (w, h) + bytes((x * 30 + y) % 256 for y in range(h)
                                                 for x in range(w * 3))


def jpegs():
    src = r'''
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#include <stdio.h>
static void sink(void *c, void *d, int n) { fwrite(d, 1, (size_t)n, c); }
int main(int argc, char **argv) {
  int w = atoi(argv[2]), h = atoi(argv[3]); unsigned char px[64 * 64 * 3];
  for (int i = 0; i < w * h * 3; i++) px[i] = (unsigned char)(i * 7);
  FILE *f = fopen(argv[1], "wb"); stbi_write_jpg_to_func(sink, f, w, h, 3, px, 80);
  return fclose(f); }
'''
    out = {}
    with tempfile.TemporaryDirectory() as t:
        c = os.path.join(t, "j.c")
        open(c, "w").write("#include <stdlib.h>\n" + src)
        exe = os.path.join(t, "j")
        if subprocess.call(["cc", "-I/usr/include/stb", c, "-o", exe, "-lm"]) != 0:
            return out
        for w, h in ((8, 8), (17, 5), (64, 40)):
            p = os.path.join(t, "o.jpg")
            subprocess.check_call([exe, p, str(w), str(h)])
            out["%dx%d" % (w, h)] = open(p, "rb").read()
    return out


def records():
    img = "data:image/png;base64," + base64.b64encode(png(2, 2)).decode()
    put("records", "pairwise.jsonl",
        '{"id":"a1","prompt":"What colour is the car?","image":"car.png","chosen":"Red.",'
        '"rejected":"Blue.","source":"x"}\n')
    put("records", "aliases.jsonl",
        '{"question":"Q?","img_path":"i.png","chosen":"yes","rejected":"no","id":7}\n'
        '{"prompt":"P","image_path":null,"chosen":"a","rejected":"b"}\n')
    put("records", "text_only.jsonl", '{"prompt":"p","chosen":"long answer","rejected":"short"}\n')
    put("records", "multi.jsonl",
        '{"id":"m","prompt":"Describe","img_path":"x.jpg","completions":{"response":["A","B","C"],'
        '"annotations":[{"Helpfulness":{"Rating":"5"},"Honesty":{"Rating":4}},'
        '{"Helpfulness":{"Rating":"2"}},3],"model":["m1","m2","m3"]},"extra":[1,{"k":2}]}\n')
    put("records", "data_uri.jsonl",
        '{"prompt":"p","image":"%s","chosen":"c","rejected":"r"}\n' % img)
    put("records", "errors.jsonl",
        '{"prompt":"p","chosen":"same","rejected":" same "}\n[1,2]\n{"prompt":1}\n'
        '{"prompt":"p","chosen":"a","rejected":"b","prompt":"dup"}\n{"bad json\n'
        '{"prompt":"p\\u0000","chosen":"a","rejected":"b"}\n\xef\xbb\xbf\r\n   \n'
        '{"id":"","prompt":"p","chosen":"a","rejected":"b"}\n')
    put("records", "nested.jsonl", '{"prompt":"p","chosen":"a","rejected":"b","x":' +
        "[" * 40 + "]" * 40 + "}\n")
    put("records", "utf8.jsonl",
        '{"prompt":"caf\u00e9 \u65e5\u672c \U0001F600","chosen":"\\ud83d\\ude00","rejected":"\\u00e9"}\n')
    put("records", "bom.jsonl", b"\xef\xbb\xbf" + b'{"prompt":"p","chosen":"a","rejected":"b"}\r\n')


def images():
    put("image", "rgb.png", png(3, 2))
    put("image", "gray.png", png(4, 4, colour=0))
    put("image", "big.png", png(200, 3))
    put("image", "small.bmp", bmp(3, 2))
    put("image", "pixel.gif", gif1x1())
    put("image", "small.ppm", pnm(3, 2))
    put("image", "truncated.png", png(3, 2)[:-12])
    put("image", "datauri.txt", "data:image/png;base64," + base64.b64encode(png(2, 2)).decode())
    for k, v in jpegs().items():
        put("image", "q%s.jpg" % k, v)


def archives():
    members = {"imgs/a.png": png(2, 2), "imgs/b.gif": gif1x1(), "c.bmp": bmp(2, 1)}

    def tar(mode, extra=None):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode=mode, format=tarfile.PAX_FORMAT) as t:
            for n, d in members.items():
                i = tarfile.TarInfo(n)
                i.size = len(d)
                t.addfile(i, io.BytesIO(d))
            for i in extra or []:
                t.addfile(i)
        return b.getvalue()

    def link(name, kind, target=""):
        i = tarfile.TarInfo(name)
        i.type = kind
        i.linkname = target
        return i
    put("archive", "plain.tar", tar("w"))
    put("archive", "gzip.tar.gz", tar("w:gz"))
    put("archive", "hostile.tar", tar("w", [link("evil.png", tarfile.SYMTYPE, "/etc/passwd"),
                                             link("hard.png", tarfile.LNKTYPE, "c.bmp"),
                                             link("dev.png", tarfile.CHRTYPE),
                                             link("fifo.png", tarfile.FIFOTYPE)]))
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        for n in ("../../escape.png", "/abs/x.png", "./dot/./y.png", "a//b.png"):
            i = tarfile.TarInfo(n)
            d = png(1, 1)
            i.size = len(d)
            t.addfile(i, io.BytesIO(d))
    put("archive", "names.tar", b.getvalue())
    for comp in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", comp) as z:
            for n, d in members.items():
                z.writestr(n, d)
            z.writestr("../slip.png", png(1, 1))
        put("archive", "members-%d.zip" % comp, b.getvalue())


if __name__ == "__main__":
    records()
    images()
    archives()
    for t in sorted(os.listdir(ROOT)):
        print(t, len(os.listdir(os.path.join(ROOT, t))), "files", file=sys.stderr)
