// The types of the RAG runtime's public surface, the same from `weft-rag/rag` (on the page) and
// `weft-rag/client` (in the engine worker): Rag is one interface in both places.

export type {
  RagEvent,
  RagInfo,
  Passage,
  PassageScores,
  PassageFilter,
  MetadataValue,
  MetadataRange,
  MetadataCondition,
  SearchMode,
  FusionOptions,
  FusionMethod,
  RerankOptions,
  IngestProgress,
  IngestOptions,
  CallOptions,
  TraceStage,
  GenerateInput,
  GenerateOptions,
  Conversation,
  RewriteOptions,
  FinishReason,
  PeriodicOptions,
  PeriodicReport,
  PeriodicWindow,
  RagSearchOptions,
  IndexSettings,
  RuntimeSettings,
} from '../runtime/types.js';
export type { Rag } from '../runtime/rag-api.js';
export type {
  ChatCompletions,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionMessageParam,
  ChatCompletionOptions,
  ChatCompletionContentPart,
  CompletionUsage,
  WeftCompletionInfo,
} from '../runtime/completions.js';
export type { GeneratedToken, GeneratorTimings, LoadProgress, SamplingOptions, ChatMessage } from '../generate/types.js';
