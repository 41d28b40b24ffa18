#include "protocols/protocols.h"
#include "protocols/debate.h"
#include "protocols/text.h"

namespace oversight {

void RegisterProtocols(Registries& registries) {
  RegisterSparsePixelTasks(registries);
  RegisterDirectProtocol(registries);
  RegisterDebateProtocol(registries);
  RegisterTextProtocols(registries);  // after the image protocols it extends
}

}  // namespace oversight
