/**
 * rtnetlink messages for tc's clsact qdisc and bpf filters (the way kernels before 6.6
 * take tc programs): nlmsghdr + struct tcmsg + attributes. Pure byte building; kernel
 * layouts live in sys/ (Sys.netlinkRequest sends them).
 */

export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_FD = 6;
const TCA_BPF_NAME = 7;
const TCA_BPF_FLAGS = 8;
const TCA_BPF_FLAG_ACT_DIRECT = 1;
/** The clsact qdisc's handle (ffff:0) and parent (TC_H_CLSACT). */
export const CLSACT_HANDLE = 0xffff0000;
export const TC_H_CLSACT = 0xfffffff1;
/** Filter parents: clsact's ingress (ffff:fff2) and egress (ffff:fff3) hooks. */
export const TC_PARENT = { ingress: 0xfffffff2, egress: 0xfffffff3 } as const;
const ETH_P_ALL = 0x0003;

const enc = new TextEncoder();

/** One rtattr (type, payload), padded to 4 bytes. */
function attr(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length;
  const out = new Uint8Array((len + 3) & ~3);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const cstr = (s: string): Uint8Array => {
  const b = enc.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
};
const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

export interface TcMsg {
  ifindex: number;
  handle: number;
  parent: number;
  /** For filters: priority << 16 | protocol (network byte order). */
  info: number;
}

/** nlmsghdr (seq left 0: sys numbers requests) + tcmsg + attributes. */
export function tcMessage(type: number, flags: number, tc: TcMsg, attrs: Uint8Array[]): Uint8Array {
  const body = new Uint8Array(20);
  const b = new DataView(body.buffer);
  b.setUint8(0, 0); // tcm_family AF_UNSPEC
  b.setInt32(4, tc.ifindex, true);
  b.setUint32(8, tc.handle >>> 0, true);
  b.setUint32(12, tc.parent >>> 0, true);
  b.setUint32(16, tc.info >>> 0, true);
  const payload = concat([body, ...attrs]);
  const msg = new Uint8Array(16 + payload.length);
  const h = new DataView(msg.buffer);
  h.setUint32(0, msg.length, true);
  h.setUint16(4, type, true);
  h.setUint16(6, flags, true);
  msg.set(payload, 16);
  return msg;
}

export function clsactQdisc(type: typeof RTM_NEWQDISC | typeof RTM_DELQDISC, ifindex: number): Uint8Array {
  const flags = NLM_F_REQUEST | NLM_F_ACK | (type === RTM_NEWQDISC ? NLM_F_CREATE | NLM_F_EXCL : 0);
  return tcMessage(type, flags, { ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 }, [attr(TCA_KIND, cstr('clsact'))]);
}

export interface BpfFilter {
  ifindex: number;
  point: 'ingress' | 'egress';
  handle: number;
  priority: number;
}

const filterMsg = (f: BpfFilter): TcMsg => ({
  ifindex: f.ifindex,
  handle: f.handle,
  parent: TC_PARENT[f.point],
  // protocol is big-endian in the low 16 bits
  info: ((f.priority & 0xffff) << 16) | (((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8)),
});

/** A direct-action bpf filter running program `progFd` (named `name`). */
export function addBpfFilter(f: BpfFilter, progFd: number, name: string): Uint8Array {
  const options = attr(TCA_OPTIONS, concat([attr(TCA_BPF_FD, u32(progFd)), attr(TCA_BPF_NAME, cstr(name)), attr(TCA_BPF_FLAGS, u32(TCA_BPF_FLAG_ACT_DIRECT))]));
  return tcMessage(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, filterMsg(f), [attr(TCA_KIND, cstr('bpf')), options]);
}

export function delBpfFilter(f: BpfFilter): Uint8Array {
  return tcMessage(RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, filterMsg(f), [attr(TCA_KIND, cstr('bpf'))]);
}
