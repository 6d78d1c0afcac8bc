/**
 * ABI compatibility of drivers/xen/ring.ts with the real Xen `io/ring.h`:
 * page images made by the TypeScript rings are read by a C program built
 * with `DEFINE_RING_TYPES` and the real macros, which applies the same
 * operations (push-and-check-notify, final checks) and prints what it sees;
 * and images made by the C macros are compared byte for byte with the
 * TypeScript ones; and the vib protocol ring (16 slots of 128 bytes) is read
 * by C through `DEFINE_RING_TYPES` structs of its request and response headers.
 */
import assert from "node:assert/strict";
import { cTest } from "./support/cc.ts";
import {
  BackRing,
  bytesCodec,
  FrontRing,
  RING_HEADER_SIZE,
  RingError,
  type RingOptions,
  ringSize,
  SharedRing,
  type SlotCodec,
  XEN_PAGE_SIZE,
} from "../drivers/xen/ring.ts";
import {
  VIB_REQ_HEADER,
  VIB_RSP_HEADER,
  VIB_SLOT_BYTES,
  VibOp,
  type VibRequest,
  type VibResponse,
  vibRingOptions,
} from "../drivers/vib/mod.ts";

const C_PROGRAM = String.raw`
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* ring.h leaves the barriers to the includer (legacy interface: mb/rmb/wmb). */
#define mb()  __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#include <xen/io/ring.h>

struct blk_req { uint64_t id; uint32_t op; uint32_t arg; };
struct blk_rsp { uint64_t id; int32_t status; };
DEFINE_RING_TYPES(blk, struct blk_req, struct blk_rsp);
struct b112_req { uint8_t b[112]; };
struct b112_rsp { uint8_t b[40]; };
DEFINE_RING_TYPES(b112, struct b112_req, struct b112_rsp);
struct b24_req { uint8_t b[24]; };
struct b24_rsp { uint8_t b[24]; };
DEFINE_RING_TYPES(b24, struct b24_req, struct b24_rsp);
struct big_req { uint8_t b[3000]; };
struct big_rsp { uint8_t b[8]; };
DEFINE_RING_TYPES(big, struct big_req, struct big_rsp);
struct tiny_req { uint8_t b[1]; };
struct tiny_rsp { uint8_t b[1]; };
DEFINE_RING_TYPES(tiny, struct tiny_req, struct tiny_rsp);
struct p63_req { uint8_t b[63]; };
struct p63_rsp { uint8_t b[20]; };
DEFINE_RING_TYPES(p63, struct p63_req, struct p63_rsp);

#define PAGE 4096
static unsigned char page[PAGE] __attribute__((aligned(PAGE)));

static void hex(const char *label, const void *p, size_t n) {
  const unsigned char *b = p;
  printf("%s", label);
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\n");
}

static void load(const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f || fread(page, 1, PAGE, f) != PAGE) { fprintf(stderr, "cannot read %s\n", file); exit(2); }
  fclose(f);
}

#define MIN8(n) ((n) < 8 ? (n) : 8)

/* One image: the read-only macros, the slots, then the notify/final-check macros. */
#define CASE_FN(tag)                                                               \
static void case_##tag(RING_IDX fpvt, RING_IDX fcons, RING_IDX bcons, RING_IDX bpvt) { \
  struct tag##_sring *s = (struct tag##_sring *)page;                              \
  struct tag##_front_ring f;                                                       \
  struct tag##_back_ring b;                                                        \
  FRONT_RING_ATTACH(&f, s, fpvt, PAGE);                                            \
  f.rsp_cons = fcons;                                                              \
  BACK_RING_ATTACH(&b, s, bpvt, PAGE);                                             \
  b.req_cons = bcons;                                                              \
  int req_ov = RING_REQUEST_PROD_OVERFLOW(&b, s->req_prod);                        \
  printf("size=%u req_prod=%u req_event=%u rsp_prod=%u rsp_event=%u\n",            \
         RING_SIZE(&f), s->req_prod, s->req_event, s->rsp_prod, s->rsp_event);     \
  printf("free=%u full=%d req_ov=%d rsp_ov=%d\n", RING_FREE_REQUESTS(&f),          \
         RING_FULL(&f), req_ov, RING_RESPONSE_PROD_OVERFLOW(&f, s->rsp_prod));      \
  if (req_ov) return;                                                              \
  printf("unc_req=%u unc_rsp=%u\n", RING_HAS_UNCONSUMED_REQUESTS(&b),              \
         RING_HAS_UNCONSUMED_RESPONSES(&f));                                       \
  char label[64];                                                                  \
  for (RING_IDX i = b.req_cons; i != s->req_prod; i++) {                           \
    void *q = RING_GET_REQUEST(&b, i);                                             \
    snprintf(label, sizeof label, "req %u off=%ld head=", i,                       \
             (long)((unsigned char *)q - page));                                   \
    hex(label, q, MIN8(sizeof(struct tag##_req)));                                 \
  }                                                                                \
  for (RING_IDX i = f.rsp_cons; i != s->rsp_prod; i++) {                           \
    void *r = RING_GET_RESPONSE(&f, i);                                            \
    snprintf(label, sizeof label, "rsp %u off=%ld head=", i,                       \
             (long)((unsigned char *)r - page));                                   \
    hex(label, r, MIN8(sizeof(struct tag##_rsp)));                                 \
  }                                                                                \
  int v;                                                                           \
  RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, v);                                      \
  printf("push_req notify=%d req_prod=%u\n", v, s->req_prod);                      \
  RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b, v);                                     \
  printf("push_rsp notify=%d rsp_prod=%u\n", v, s->rsp_prod);                      \
  RING_FINAL_CHECK_FOR_REQUESTS(&b, v);                                            \
  printf("final_req work=%d req_event=%u\n", v != 0, s->req_event);                \
  RING_FINAL_CHECK_FOR_RESPONSES(&f, v);                                           \
  printf("final_rsp work=%d rsp_event=%u\n", v != 0, s->rsp_event);                \
  hex("header ", page, 64);                                                        \
}

#define LAYOUT(tag)                                                                \
  printf("layout " #tag " entry=%zu req=%zu rsp=%zu ring_off=%zu size=%lu"         \
         " offs=%zu,%zu,%zu,%zu,%zu,%zu\n",                                        \
         sizeof(union tag##_sring_entry), sizeof(struct tag##_req),                \
         sizeof(struct tag##_rsp), offsetof(struct tag##_sring, ring),             \
         (unsigned long)__CONST_RING_SIZE(tag, PAGE),                              \
         offsetof(struct tag##_sring, req_prod), offsetof(struct tag##_sring, req_event), \
         offsetof(struct tag##_sring, rsp_prod), offsetof(struct tag##_sring, rsp_event), \
         offsetof(struct tag##_sring, pvt), offsetof(struct tag##_sring, __pad))

CASE_FN(blk)
CASE_FN(b112)
CASE_FN(b24)
CASE_FN(big)
CASE_FN(tiny)
CASE_FN(p63)

/* C -> TS: the front pushes n blk requests from start, dump; the back answers all, dump. */
static void make_blk(RING_IDX start, unsigned n) {
  struct blk_sring *s = (struct blk_sring *)page;
  struct blk_front_ring f;
  struct blk_back_ring b;
  memset(page, 0, PAGE);
  XEN_FRONT_RING_INIT(&f, s, PAGE);
  s->req_prod = s->rsp_prod = start;
  s->req_event = s->rsp_event = start + 1;
  FRONT_RING_ATTACH(&f, s, start, PAGE);
  BACK_RING_ATTACH(&b, s, start, PAGE);
  for (unsigned i = 0; i < n; i++) {
    struct blk_req *q = RING_GET_REQUEST(&f, f.req_prod_pvt);
    q->id = 0xc0de000000000000ull + i; q->op = i; q->arg = ~i;
    f.req_prod_pvt++;
  }
  int v;
  RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, v);
  printf("make push_req notify=%d\n", v);
  hex("image_req ", page, PAGE);
  while (RING_HAS_UNCONSUMED_REQUESTS(&b)) {
    struct blk_req q;
    RING_COPY_REQUEST(&b, b.req_cons, &q);
    b.req_cons++;
    struct blk_rsp *r = RING_GET_RESPONSE(&b, b.rsp_prod_pvt);
    r->id = q.id; r->status = -(int32_t)q.op;
    b.rsp_prod_pvt++;
  }
  RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b, v);
  printf("make push_rsp notify=%d\n", v);
  RING_FINAL_CHECK_FOR_REQUESTS(&b, v);
  printf("make final_req work=%d\n", v != 0);
  hex("image_rsp ", page, PAGE);
}

int main(int argc, char **argv) {
  LAYOUT(blk); LAYOUT(b112); LAYOUT(b24); LAYOUT(big); LAYOUT(tiny); LAYOUT(p63);
  /* argv: (tag file fpvt fcons bcons bpvt)* then optionally "make" start n */
  for (int i = 1; i < argc; ) {
    if (strcmp(argv[i], "make") == 0) {
      make_blk((RING_IDX)strtoul(argv[i + 1], 0, 0), (unsigned)strtoul(argv[i + 2], 0, 0));
      i += 3;
      continue;
    }
    const char *tag = argv[i];
    load(argv[i + 1]);
    RING_IDX x[4];
    for (int k = 0; k < 4; k++) x[k] = (RING_IDX)strtoul(argv[i + 2 + k], 0, 0);
    printf("case %s %s\n", tag, argv[i + 1]);
    if (!strcmp(tag, "blk")) case_blk(x[0], x[1], x[2], x[3]);
    else if (!strcmp(tag, "b112")) case_b112(x[0], x[1], x[2], x[3]);
    else if (!strcmp(tag, "b24")) case_b24(x[0], x[1], x[2], x[3]);
    else if (!strcmp(tag, "big")) case_big(x[0], x[1], x[2], x[3]);
    else if (!strcmp(tag, "tiny")) case_tiny(x[0], x[1], x[2], x[3]);
    else if (!strcmp(tag, "p63")) case_p63(x[0], x[1], x[2], x[3]);
    else { fprintf(stderr, "unknown tag %s\n", tag); return 2; }
    i += 6;
  }
  return 0;
}
`;

interface BlkReq {
  id: bigint;
  op: number;
  arg: number;
}
interface BlkRsp {
  id: bigint;
  status: number;
}
const blkReq: SlotCodec<BlkReq> = {
  size: 16,
  encode(v, out) {
    out.setBigUint64(0, v.id, true);
    out.setUint32(8, v.op, true);
    out.setUint32(12, v.arg, true);
  },
  decode: (d) => ({
    id: d.getBigUint64(0, true),
    op: d.getUint32(8, true),
    arg: d.getUint32(12, true),
  }),
};
const blkRsp: SlotCodec<BlkRsp> = {
  size: 12, // C pads the union entry to 16 (alignment of uint64_t): slotSize below
  encode(v, out) {
    out.setBigUint64(0, v.id, true);
    out.setInt32(8, v.status, true);
  },
  decode: (d) => ({ id: d.getBigUint64(0, true), status: d.getInt32(8, true) }),
};

/** A layout: the TS side of one DEFINE_RING_TYPES in the C program. */
interface Layout {
  tag: string;
  req: number;
  rsp: number;
  /** Builds message `id` of `size` bytes; returns it and the bytes C will see at its head. */
  opts: RingOptions<unknown, unknown>;
  msg(kind: "req" | "rsp", id: number): { value: unknown; head: Uint8Array };
}

function byteLayout(tag: string, req: number, rsp: number): Layout {
  return {
    tag,
    req,
    rsp,
    opts: { request: bytesCodec(req), response: bytesCodec(rsp) } as RingOptions<unknown, unknown>,
    msg(kind, id) {
      const size = kind === "req" ? req : rsp;
      const b = new Uint8Array(size);
      for (let i = 0; i < size; i++) b[i] = (id * 31 + i * 7 + (kind === "req" ? 1 : 2)) & 0xff;
      return { value: b, head: b.slice(0, 8) };
    },
  };
}

const LAYOUTS: Layout[] = [
  {
    tag: "blk",
    req: 16,
    rsp: 16,
    opts: { request: blkReq, response: blkRsp, slotSize: 16 } as RingOptions<unknown, unknown>,
    msg(kind, id) {
      const head = new Uint8Array(8);
      const big = BigInt(id) * 0x10001n + (kind === "req" ? 0x1000n : 0x2000n);
      new DataView(head.buffer).setBigUint64(0, big, true);
      const value = kind === "req" ? { id: big, op: id, arg: ~id >>> 0 } : { id: big, status: -id };
      return { value, head };
    },
  },
  byteLayout("b112", 112, 40),
  byteLayout("b24", 24, 24),
  byteLayout("big", 3000, 8),
  byteLayout("tiny", 1, 1),
  byteLayout("p63", 63, 20), // (4096 - 64) / 63 = 64 exactly: no rounding down
];

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** A ring state built by the TS code, plus what C should print for it. */
interface Case {
  layout: Layout;
  file: string;
  image: Uint8Array;
  argv: string[];
  expected: string[];
}

/**
 * Drive a TS front and back through `script`, snapshot the page and private
 * indices, then compute with the TS code what the C program must print for
 * that image.
 */
function buildCase(
  layout: Layout,
  name: string,
  start: number,
  script: (ops: Ops) => void,
): Case {
  const page = new Uint8Array(4096);
  const front = FrontRing.init(page, layout.opts, start);
  const back = BackRing.attach(page, layout.opts, start);
  const written = new Map<string, Uint8Array>(); // "req i" / "rsp i" -> head bytes
  let next = 1;
  const ops: Ops = {
    front,
    back,
    request() {
      const m = layout.msg("req", next++);
      written.set(`req ${front.reqProdPvt}`, m.head);
      front.pushRequest(m.value);
    },
    respond() {
      const m = layout.msg("rsp", next++);
      written.set(`rsp ${back.rspProdPvt}`, m.head);
      back.pushResponse(m.value);
    },
  };
  script(ops);
  const image = page.slice();
  const argv = [layout.tag, name, front.reqProdPvt, front.rspCons, back.reqCons, back.rspProdPvt]
    .map(String);

  const s = front.shared;
  const exp: string[] = [`case ${layout.tag} ${name}`];
  exp.push(
    `size=${s.size} req_prod=${s.reqProd} req_event=${s.reqEvent} rsp_prod=${s.rspProd} ` +
      `rsp_event=${s.rspEvent}`,
  );
  let reqOv = 0;
  try {
    back.unconsumedRequests();
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== "prod-overflow") throw e;
    reqOv = 1;
  }
  exp.push(`free=${front.freeRequests} full=${front.full ? 1 : 0} req_ov=${reqOv} rsp_ov=0`);
  if (!reqOv) {
    exp.push(`unc_req=${back.unconsumedRequests()} unc_rsp=${front.unconsumedResponses()}`);
    for (let i = back.reqCons; i !== s.reqProd; i = (i + 1) >>> 0) {
      const head = written.get(`req ${i}`)!.slice(0, Math.min(8, layout.req));
      exp.push(`req ${i} off=${s.slotOffset(i)} head=${hex(head)}`);
    }
    for (let i = front.rspCons; i !== s.rspProd; i = (i + 1) >>> 0) {
      const head = written.get(`rsp ${i}`)!.slice(0, Math.min(8, layout.rsp));
      exp.push(`rsp ${i} off=${s.slotOffset(i)} head=${hex(head)}`);
    }
    exp.push(`push_req notify=${+front.pushRequestsAndCheckNotify()} req_prod=${s.reqProd}`);
    exp.push(`push_rsp notify=${+back.pushResponsesAndCheckNotify()} rsp_prod=${s.rspProd}`);
    exp.push(`final_req work=${+back.finalCheckForRequests()} req_event=${s.reqEvent}`);
    exp.push(`final_rsp work=${+front.finalCheckForResponses()} rsp_event=${s.rspEvent}`);
    exp.push(`header ${hex(page.subarray(0, 64))}`);
  }
  return { layout, file: name, image, argv, expected: exp };
}

interface Ops {
  front: FrontRing<unknown, unknown>;
  back: BackRing<unknown, unknown>;
  request(): void;
  respond(): void;
}

/** Requests in flight in every stage: published, taken, answered, consumed, queued. */
function busy(o: Ops): void {
  const n1 = Math.min(o.front.size, 5);
  for (let i = 0; i < n1; i++) o.request();
  o.front.pushRequestsAndCheckNotify();
  const k = Math.min(n1, 3);
  for (let i = 0; i < k; i++) o.back.takeRequest();
  const j = Math.min(k, 2);
  for (let i = 0; i < j; i++) o.respond();
  o.back.pushResponsesAndCheckNotify();
  o.front.takeResponse();
  while (o.back.awaitingResponse > 0) o.respond(); // queued, not published
  for (let i = Math.min(o.front.freeRequests, 2); i > 0; i--) o.request(); // queued
}

/** Back idle and re-armed, then a request is queued: pushing it must notify. */
function armed(o: Ops): void {
  o.request();
  o.front.pushRequests();
  o.back.takeRequest();
  o.respond();
  o.back.pushResponses();
  o.front.takeResponse();
  o.back.finalCheckForRequests();
  o.front.finalCheckForResponses();
  o.request();
}

function full(o: Ops): void {
  while (!o.front.full) o.request();
  o.front.pushRequests();
}

function overflow(o: Ops): void {
  o.request();
  o.front.pushRequests();
  o.back.takeRequest();
  // A hostile frontend claims more requests than the ring can hold.
  o.front.shared.reqProd = o.back.rspProdPvt + o.back.size + 1;
}

const STARTS = [0, 0xfffffffd];

await cTest(
  "ring ABI: TS ring pages read by the real io/ring.h macros give the same indices, slots, notify and final-check results",
  { headers: ["xen/io/ring.h"], install: "libxen-dev" },
  async (c) => {
    const cases: Case[] = [];
    for (const layout of LAYOUTS) {
      for (const start of STARTS) {
        for (const [label, script] of [["busy", busy], ["armed", armed], ["full", full]] as const) {
          cases.push(buildCase(layout, `${layout.tag}-${label}-${start}.img`, start, script));
        }
      }
      cases.push(buildCase(layout, `${layout.tag}-overflow.img`, 0xfffffff0, overflow));
    }
    const files: Record<string, Uint8Array> = {};
    for (const k of cases) files[k.file] = k.image;
    const out = await c.run(C_PROGRAM, { files, args: cases.flatMap((k) => k.argv) });
    const lines = out.trimEnd().split("\n");

    // Layout: struct sring offsets, sizeof the entry union, __CONST_RING_SIZE.
    for (const layout of LAYOUTS) {
      const line = lines.find((l) => l.startsWith(`layout ${layout.tag} `));
      const shared = new SharedRing(new Uint8Array(4096), slotSizeOf(layout));
      assert.equal(
        line,
        `layout ${layout.tag} entry=${shared.slotSize} req=${layout.req} rsp=${layout.rsp} ` +
          `ring_off=64 size=${shared.size} offs=0,4,8,12,16,20`,
      );
    }
    // Every case: C's view of the TS-made image equals the TS view, line for line.
    for (const k of cases) {
      const at = lines.indexOf(k.expected[0]);
      assert.ok(at >= 0, `C printed nothing for ${k.file}`);
      assert.deepEqual(lines.slice(at, at + k.expected.length), k.expected, k.file);
    }
    // The cases are not vacuous: both notify outcomes and the overflow verdict occur.
    const all = cases.flatMap((k) => k.expected).join("\n");
    assert.match(all, /push_req notify=1/);
    assert.match(all, /push_req notify=0/);
    assert.match(all, /final_req work=1/);
    assert.match(all, /req_ov=1/);
    assert.match(all, /full=1/);
  },
);

function slotSizeOf(layout: Layout): number {
  return layout.opts.slotSize ?? Math.max(layout.req, layout.rsp);
}

await cTest(
  "ring ABI: pages built by the C macros equal the TS-built pages byte for byte, and TS reads them",
  { headers: ["xen/io/ring.h"], install: "libxen-dev" },
  async (c) => {
    for (const [start, n] of [[0, 7], [0xfffffffb, 9], [0xffffff80, 128]]) {
      const out = await c.run(C_PROGRAM, { args: ["make", String(start), String(n)] });
      const get = (prefix: string) => {
        const line = out.split("\n").find((l) => l.startsWith(prefix));
        assert.ok(line !== undefined, `C printed no '${prefix}' line`);
        return line.slice(prefix.length);
      };
      const cReqImage = Uint8Array.from(get("image_req ").match(/../g)!, (h) => parseInt(h, 16));
      const cRspImage = Uint8Array.from(get("image_rsp ").match(/../g)!, (h) => parseInt(h, 16));
      assert.equal(cReqImage.length, 4096);

      // The same operations in TS, on a zeroed page.
      const opts = { request: blkReq, response: blkRsp, slotSize: 16 };
      const page = new Uint8Array(4096);
      const front = FrontRing.init(page, opts, start);
      const back = BackRing.attach(page, opts, start);
      for (let i = 0; i < n; i++) {
        front.pushRequest({ id: 0xc0de000000000000n + BigInt(i), op: i, arg: ~i >>> 0 });
      }
      assert.equal(get("make push_req notify="), `${+front.pushRequestsAndCheckNotify()}`);
      assert.equal(hex(page), hex(cReqImage), `request page, start ${start}`);

      // TS back reading the C-made page sees the C requests in order.
      const cBack = BackRing.attach(cReqImage, opts, start);
      for (let i = 0; i < n; i++) {
        assert.deepEqual(cBack.takeRequest(), {
          id: 0xc0de000000000000n + BigInt(i),
          op: i,
          arg: ~i >>> 0,
        });
      }
      assert.equal(cBack.takeRequest(), undefined);

      for (let r = back.takeRequest(); r; r = back.takeRequest()) {
        back.pushResponse({ id: r.id, status: -r.op });
      }
      assert.equal(get("make push_rsp notify="), `${+back.pushResponsesAndCheckNotify()}`);
      assert.equal(get("make final_req work="), `${+back.finalCheckForRequests()}`);
      assert.equal(hex(page), hex(cRspImage), `response page, start ${start}`);
    }
  },
);

await cTest(
  "ring ABI: ringSize equals __CONST_RING_SIZE and __RING_SIZE for odd slot sizes and multi-page rings",
  { headers: ["xen/io/ring.h"], install: "libxen-dev" },
  async (c) => {
    // Slot sizes around every power of two and page boundary, up to one that does not fit.
    const slots = [1, 2, 3, 7, 8, 9, 12, 24, 63, 64, 65, 100, 112, 127, 128, 129, 255, 256, 257];
    slots.push(500, 1000, 1008, 1009, 2015, 2016, 2017, 4031, 4032, 4033, 5000, 16320, 16321);
    const pages = [1, 2, 4, 8, 16];
    const types = slots.map((n) =>
      `struct s${n}_req { uint8_t b[${n}]; };\nDEFINE_RING_TYPES(s${n}, struct s${n}_req, struct s${n}_req);`
    );
    const prints = slots.flatMap((n) =>
      pages.map((k) =>
        `  { static union { struct s${n}_sring s; uint8_t b[${k * XEN_PAGE_SIZE}]; } u;
    printf("${n} ${k} %lu %lu\\n", (unsigned long)__CONST_RING_SIZE(s${n}, ${k * XEN_PAGE_SIZE}),
           (unsigned long)__RING_SIZE(&u.s, ${k * XEN_PAGE_SIZE})); }`
      )
    );
    const out = await c.run(`
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#define mb()  __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#include <xen/io/ring.h>
${types.join("\n")}
int main(void) {
${prints.join("\n")}
  return 0;
}`);
    const want = slots.flatMap((n) =>
      pages.map((k) => {
        const size = ringSize(n, k * XEN_PAGE_SIZE);
        return `${n} ${k} ${size} ${size}`;
      })
    );
    assert.deepEqual(out.trim().split("\n"), want);
    assert.ok(want.includes("4033 1 0 0"), "a slot that does not fit gives a ring of 0");
    assert.ok(want.includes("1 16 32768 32768"), "rounded down to a power of two");
  },
);

await cTest(
  "ring ABI: the vib ring (docs/architecture.md, The protocol) is a DEFINE_RING_TYPES ring of 16 128-byte slots whose headers C reads where TS wrote them",
  { headers: ["xen/io/ring.h"], install: "libxen-dev" },
  async (c) => {
    // The vib request and response as C structs, header fields as the protocol table has them.
    const prog = String.raw`
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define mb()  __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#include <xen/io/ring.h>
struct vib_request {
  uint32_t id; uint8_t op; uint8_t flags; uint16_t ctx; uint32_t handle;
  uint16_t nr_segs; uint16_t reserved; uint8_t body[${VIB_SLOT_BYTES - VIB_REQ_HEADER}];
};
struct vib_response {
  uint32_t id; uint8_t op; uint8_t limit; int16_t status;
  uint8_t body[${VIB_SLOT_BYTES - VIB_RSP_HEADER}];
};
DEFINE_RING_TYPES(vib, struct vib_request, struct vib_response);
static unsigned char page[4096] __attribute__((aligned(4096)));
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  printf("layout %zu %zu %zu %zu %zu %zu %lu\n", sizeof(union vib_sring_entry),
         sizeof(struct vib_request), offsetof(struct vib_request, nr_segs),
         sizeof(struct vib_response), offsetof(struct vib_response, status),
         offsetof(struct vib_sring, ring), (unsigned long)__CONST_RING_SIZE(vib, 4096));
  FILE *f = fopen("vib.img", "rb");
  if (!f || fread(page, 1, sizeof page, f) != sizeof page) return 2;
  fclose(f);
  struct vib_sring *s = (struct vib_sring *)page;
  struct vib_back_ring b;
  struct vib_front_ring fr;
  BACK_RING_ATTACH(&b, s, s->rsp_prod, 4096);
  b.req_cons = (RING_IDX)strtoul(argv[1], 0, 0);
  FRONT_RING_ATTACH(&fr, s, s->req_prod, 4096);
  fr.rsp_cons = (RING_IDX)strtoul(argv[2], 0, 0);
  printf("size %u\n", RING_SIZE(&b));
  for (RING_IDX i = b.req_cons; i != s->req_prod; i++) {
    struct vib_request q;
    RING_COPY_REQUEST(&b, i, &q);
    printf("req %u id=%u op=%u flags=%u ctx=%u handle=%u nr_segs=%u\n", i, q.id, q.op, q.flags,
           q.ctx, q.handle, q.nr_segs);
  }
  for (RING_IDX i = fr.rsp_cons; i != s->rsp_prod; i++) {
    struct vib_response *r = RING_GET_RESPONSE(&fr, i);
    printf("rsp %u id=%u op=%u limit=%u status=%d\n", i, r->id, r->op, r->limit, r->status);
  }
  return 0;
}`;
    const page = new Uint8Array(XEN_PAGE_SIZE);
    const opts = vibRingOptions();
    const front = FrontRing.init(page, opts);
    const back = BackRing.attach(page, opts);
    assert.equal(front.size, 16, "docs/architecture.md: 128-byte slots (16)");
    const req = (id: number): VibRequest => ({
      id,
      op: VibOp.QUERY_PORT,
      flags: 0,
      ctx: 0x1234 + id,
      handle: 0x89abcdef - id,
      body: { port: 1 },
      segs: [],
    });
    // A full ring answered and consumed, so that the last requests wrap to slot 0.
    let id = 1;
    for (let i = 0; i < 16; i++) front.pushRequest(req(id++));
    front.pushRequests();
    for (let r = back.takeRequest(); r; r = back.takeRequest()) {
      back.pushResponse({ id: r.id, op: r.op, status: 0, body: { state: 4 } } as VibResponse);
    }
    back.pushResponses();
    while (front.takeResponse()) { /* consumed */ }
    for (let i = 0; i < 3; i++) front.pushRequest(req(id++));
    front.pushRequests();
    // The back takes request 16 and answers it: the response fills its slot (ring.h), so C reads
    // the two requests still waiting and the response.
    back.takeRequest();
    const reqCons = back.reqCons;
    back.pushResponse({ id: 17, op: VibOp.QUERY_PORT, status: -22, body: {}, reason: "no" });
    back.pushResponses();
    const out = await c.run(prog, {
      files: { "vib.img": page },
      args: [String(reqCons), String(front.rspCons)],
    });
    const lines = out.trim().split("\n");
    assert.equal(
      lines[0],
      `layout ${VIB_SLOT_BYTES} ${VIB_SLOT_BYTES} 12 ${VIB_SLOT_BYTES} 6 ${RING_HEADER_SIZE} ${
        ringSize(VIB_SLOT_BYTES)
      }`,
    );
    assert.equal(lines[1], `size ${front.size}`);
    assert.deepEqual(lines.slice(2), [
      ...[17, 18].map((i) =>
        `req ${i} id=${i + 1} op=${VibOp.QUERY_PORT} flags=0 ctx=${0x1234 + i + 1} handle=${
          0x89abcdef - i - 1
        } nr_segs=0`
      ),
      `rsp 16 id=17 op=${VibOp.QUERY_PORT} limit=0 status=-22`,
    ]);
  },
);
