// Load the next task's images while the worker answers the current one, so "submit and next" shows
// the next image from the cache instead of waiting on the server.
import { imageLoader, imageLoadPoolManager, Enums } from "@cornerstonejs/core";
import type { TaskPayload } from "../types";
import { initCornerstone, loadInstance } from "./cornerstone";

export async function warmTask(task: TaskPayload): Promise<void> {
  initCornerstone();
  const instances = await Promise.all(task.instances.map((instance) => loadInstance(instance).catch(() => null)));
  for (const instance of instances) {
    for (const imageId of instance?.imageIds ?? []) {
      // Prefetch priority: whatever the current viewer asks for goes first.
      imageLoadPoolManager.addRequest(() => imageLoader.loadAndCacheImage(imageId).then(() => undefined),
        Enums.RequestType.Prefetch, { imageId });
    }
  }
}
