export declare const CHROMIUM_PATH: string;
export declare const CHROMIUM_BASE_ARGS: string[];
export declare const CHROMIUM_ARGS: string[];
export declare const CHROMIUM_NO_WEBGPU_ARGS: string[];
