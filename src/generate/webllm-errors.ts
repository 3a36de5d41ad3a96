// WebLLM's failures (and fetch's and WebGPU's, as WebLLM passes them on) as WeftErrors with a code
// and a message that says what to do. WebLLM's error classes do not survive a worker boundary
// (a WebWorkerMLCEngine's errors arrive as strings), so the message is matched as well as the name.

import { WeftError, type WeftErrorCode } from '../errors.js';

/** Maps a WebLLM (or fetch, or WebGPU) failure to a Weft error with an actionable message. */
export function mapWebLlmError(e: unknown, modelId: string): WeftError {
  if (e instanceof WeftError) return e;
  const name = (e as { name?: string } | null)?.name ?? '';
  const ctor = (e as { constructor?: { name?: string } } | null)?.constructor?.name ?? '';
  const message = (e as { message?: string } | null)?.message ?? String(e);
  const kind = `${name} ${ctor}`;
  const make = (code: WeftErrorCode, text: string) => new WeftError(code, text, { cause: e, details: { model: modelId, original: message } });
  if (/WebGPUNotAvailable|WebGPUNotFound/.test(kind) || /WebGPU is not (supported|available)|navigator\.gpu/i.test(message)) {
    return make('WEBGPU_UNAVAILABLE', `WebLLM needs WebGPU, which this browser does not offer (${message}). Use Chrome/Edge 113+ on a secure page.`);
  }
  if (/DeviceLost/.test(kind) || /device (was |is )?lost/i.test(message)) {
    return make('DEVICE_LOST', `The GPU device was lost while running ${modelId} (${message}). Reload the model.`);
  }
  if (/QuotaExceeded/.test(kind) || /quota/i.test(message)) {
    return make('STORAGE_FULL', `There is not enough storage to cache ${modelId} (${message}). Free space or choose a smaller model.`);
  }
  if (/out of memory|OOM|allocation failed|Buffer.*too large|exceeds.*(limit|size)/i.test(message)) {
    return make('GPU_OUT_OF_MEMORY', `${modelId} does not fit in this GPU's memory (${message}). Choose a smaller (more quantised) model.`);
  }
  if (/IntegrityError/.test(kind) || /integrity verification failed/i.test(message)) {
    return make(
      'CHECKSUM_MISMATCH',
      `A file of ${modelId} does not match the hash given in model.integrity (${message}); nothing of it was used. Check the hash, or the file's source.`,
    );
  }
  if (/ModelNotFound|UnsupportedModelId/.test(kind) || /cannot find model record|not found in appConfig|model_id/i.test(message)) {
    return make('UNKNOWN_MODEL', `'${modelId}' is not a WebLLM model id (${message}). Use an id from WebLLM's prebuilt list or pass a custom model record.`);
  }
  if (/Failed to fetch|NetworkError|fetch|HTTP|404|403|ERR_|Load failed|TypeError/i.test(`${message} ${kind}`)) {
    return make(
      'MODEL_UNREACHABLE',
      `The files of ${modelId} could not be downloaded (${message}). Check the model URL and the network; once cached, models load offline.`,
    );
  }
  return make('GENERATION_FAILED', `WebLLM failed running ${modelId}: ${message}.`);
}
