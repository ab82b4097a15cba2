#version 330 core
// talkface "clay" shader: two fixed directional lights, ambient and a soft highlight.
// Back faces (the inside of the mouth and eye sockets) are drawn dark.
in vec3 frag_position;
in vec3 frag_normal;

uniform vec3 cam_pos;

out vec4 frag_color;

void main()
{
    if (!gl_FrontFacing) {
        frag_color = vec4(0.10, 0.06, 0.06, 1.0);
        return;
    }
    vec3 n = normalize(frag_normal);
    vec3 v = normalize(cam_pos - frag_position);
    vec3 key = normalize(vec3(0.35, 0.5, 1.0));
    vec3 fill = normalize(vec3(-0.7, 0.0, 0.5));
    float diffuse = 0.20 + 0.62 * max(dot(n, key), 0.0) + 0.22 * max(dot(n, fill), 0.0);
    float spec = 0.10 * pow(max(dot(n, normalize(key + v)), 0.0), 24.0);
    vec3 base = vec3(0.80, 0.76, 0.72);
    frag_color = vec4(base * diffuse + vec3(spec), 1.0);
}
