// AudioWorklet: microphone -> 16 kHz PCM16 (averaging decimator; the server resamples with soxr).
class KioskCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 16000; this.acc = 0; this.n = 0; this.pos = 0;
    this.out = new Int16Array(1600); this.len = 0;
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      this.acc += ch[i]; this.n += 1; this.pos += 1;
      if (this.pos >= this.step) {
        this.pos -= this.step;
        const v = Math.max(-1, Math.min(1, this.acc / this.n));
        this.out[this.len++] = v < 0 ? v * 0x8000 : v * 0x7fff;
        this.acc = 0; this.n = 0;
        if (this.len === this.out.length) {
          this.port.postMessage(this.out.slice(0).buffer, []);
          this.len = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("kiosk-capture", KioskCapture);
